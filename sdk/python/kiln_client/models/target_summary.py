from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.report_target_type import ReportTargetType
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.media_summary import MediaSummary
    from ..models.user_summary import UserSummary


T = TypeVar("T", bound="TargetSummary")


@_attrs_define
class TargetSummary:
    """What a report is about, summed up.

    Attributes:
        first_reported_at (datetime.datetime): When it was first reported.
        priority (float): Its priority.
        target_id (str): Which one.
        target_type (ReportTargetType): What a report is about.
        escalated_at (datetime.datetime | None | Unset): When its priority crossed the threshold, while any report on it
            is open.
        media (MediaSummary | Unset): The reported media, as a moderator sees it.
        user (UserSummary | Unset): The reported account, as a moderator sees it.
    """

    first_reported_at: datetime.datetime
    priority: float
    target_id: str
    target_type: ReportTargetType
    escalated_at: datetime.datetime | None | Unset = UNSET
    media: MediaSummary | Unset = UNSET
    user: UserSummary | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        first_reported_at = self.first_reported_at.isoformat()

        priority = self.priority

        target_id = self.target_id

        target_type = self.target_type.value

        escalated_at: None | str | Unset
        if isinstance(self.escalated_at, Unset):
            escalated_at = UNSET
        elif isinstance(self.escalated_at, datetime.datetime):
            escalated_at = self.escalated_at.isoformat()
        else:
            escalated_at = self.escalated_at

        media: dict[str, Any] | Unset = UNSET
        if not isinstance(self.media, Unset):
            media = self.media.to_dict()

        user: dict[str, Any] | Unset = UNSET
        if not isinstance(self.user, Unset):
            user = self.user.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "first_reported_at": first_reported_at,
                "priority": priority,
                "target_id": target_id,
                "target_type": target_type,
            }
        )
        if escalated_at is not UNSET:
            field_dict["escalated_at"] = escalated_at
        if media is not UNSET:
            field_dict["media"] = media
        if user is not UNSET:
            field_dict["user"] = user

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.media_summary import MediaSummary  # noqa: PLC0415
        from ..models.user_summary import UserSummary  # noqa: PLC0415

        d = dict(src_dict)
        first_reported_at = datetime.datetime.fromisoformat(d.pop("first_reported_at"))

        priority = d.pop("priority")

        target_id = d.pop("target_id")

        target_type = ReportTargetType(d.pop("target_type"))

        def _parse_escalated_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                escalated_at_type_0 = datetime.datetime.fromisoformat(data)

                return escalated_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        escalated_at = _parse_escalated_at(d.pop("escalated_at", UNSET))

        _media = d.pop("media", UNSET)
        media: MediaSummary | Unset
        if isinstance(_media, Unset):
            media = UNSET
        else:
            media = MediaSummary.from_dict(_media)

        _user = d.pop("user", UNSET)
        user: UserSummary | Unset
        if isinstance(_user, Unset):
            user = UNSET
        else:
            user = UserSummary.from_dict(_user)

        target_summary = cls(
            first_reported_at=first_reported_at,
            priority=priority,
            target_id=target_id,
            target_type=target_type,
            escalated_at=escalated_at,
            media=media,
            user=user,
        )

        target_summary.additional_properties = d
        return target_summary

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
