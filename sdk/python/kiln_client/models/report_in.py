from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.report_reason import ReportReason
from ..models.report_target_type import ReportTargetType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ReportIn")


@_attrs_define
class ReportIn:
    """A report to file.

    Attributes:
        reason (ReportReason): Why something is reported.
        target_id (str): Which one: a media or user id, or your own object's id (1–200 characters).
        target_type (ReportTargetType): What a report is about.
        details (None | str | Unset): In your words, at most 2,000 characters; required when the reason is `other`.
    """

    reason: ReportReason
    target_id: str
    target_type: ReportTargetType
    details: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        reason = self.reason.value

        target_id = self.target_id

        target_type = self.target_type.value

        details: None | str | Unset
        if isinstance(self.details, Unset):
            details = UNSET
        else:
            details = self.details

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "reason": reason,
                "target_id": target_id,
                "target_type": target_type,
            }
        )
        if details is not UNSET:
            field_dict["details"] = details

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        reason = ReportReason(d.pop("reason"))

        target_id = d.pop("target_id")

        target_type = ReportTargetType(d.pop("target_type"))

        def _parse_details(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        details = _parse_details(d.pop("details", UNSET))

        report_in = cls(
            reason=reason,
            target_id=target_id,
            target_type=target_type,
            details=details,
        )

        return report_in
