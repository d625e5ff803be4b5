from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.report_reason import ReportReason
from ..models.report_status import ReportStatus
from ..models.report_target_type import ReportTargetType
from ..types import UNSET, Unset

T = TypeVar("T", bound="MyReportOut")


@_attrs_define
class MyReportOut:
    """One of your reports.

    Attributes:
        created_at (datetime.datetime): When you filed it.
        id (UUID): The report id.
        reason (ReportReason): Why something is reported.
        status (ReportStatus): Where a report is in review.
        target_id (str): Which one.
        target_type (ReportTargetType): What a report is about.
        updated_at (datetime.datetime): When it last changed.
        closed_at (datetime.datetime | None | Unset): When it was resolved or dismissed.
        details (None | str | Unset): Your words.
    """

    created_at: datetime.datetime
    id: UUID
    reason: ReportReason
    status: ReportStatus
    target_id: str
    target_type: ReportTargetType
    updated_at: datetime.datetime
    closed_at: datetime.datetime | None | Unset = UNSET
    details: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        id = str(self.id)

        reason = self.reason.value

        status = self.status.value

        target_id = self.target_id

        target_type = self.target_type.value

        updated_at = self.updated_at.isoformat()

        closed_at: None | str | Unset
        if isinstance(self.closed_at, Unset):
            closed_at = UNSET
        elif isinstance(self.closed_at, datetime.datetime):
            closed_at = self.closed_at.isoformat()
        else:
            closed_at = self.closed_at

        details: None | str | Unset
        if isinstance(self.details, Unset):
            details = UNSET
        else:
            details = self.details

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "reason": reason,
                "status": status,
                "target_id": target_id,
                "target_type": target_type,
                "updated_at": updated_at,
            }
        )
        if closed_at is not UNSET:
            field_dict["closed_at"] = closed_at
        if details is not UNSET:
            field_dict["details"] = details

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        reason = ReportReason(d.pop("reason"))

        status = ReportStatus(d.pop("status"))

        target_id = d.pop("target_id")

        target_type = ReportTargetType(d.pop("target_type"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_closed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                closed_at_type_0 = datetime.datetime.fromisoformat(data)

                return closed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        closed_at = _parse_closed_at(d.pop("closed_at", UNSET))

        def _parse_details(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        details = _parse_details(d.pop("details", UNSET))

        my_report_out = cls(
            created_at=created_at,
            id=id,
            reason=reason,
            status=status,
            target_id=target_id,
            target_type=target_type,
            updated_at=updated_at,
            closed_at=closed_at,
            details=details,
        )

        my_report_out.additional_properties = d
        return my_report_out

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
