from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.report_target_type import ReportTargetType

if TYPE_CHECKING:
    from ..models.reason_count_out import ReasonCountOut


T = TypeVar("T", bound="ReportGroupOut")


@_attrs_define
class ReportGroupOut:
    """The reports on one target that the filters select.

    Attributes:
        escalated (bool): The priority crossed the threshold and no moderator has closed every report since.
        first_reported_at (datetime.datetime): When it was first reported.
        last_reported_at (datetime.datetime): The newest selected report.
        latest_report_id (UUID): Its newest report: `GET /v1/reports/{id}` shows it with the others.
        priority (float): Its priority (from its open reports).
        reasons (list[ReasonCountOut]): Those reports by reason, most first.
        reports (int): Reports on it that the filters select.
        target_id (str): Which one.
        target_type (ReportTargetType): What a report is about.
    """

    escalated: bool
    first_reported_at: datetime.datetime
    last_reported_at: datetime.datetime
    latest_report_id: UUID
    priority: float
    reasons: list[ReasonCountOut]
    reports: int
    target_id: str
    target_type: ReportTargetType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        escalated = self.escalated

        first_reported_at = self.first_reported_at.isoformat()

        last_reported_at = self.last_reported_at.isoformat()

        latest_report_id = str(self.latest_report_id)

        priority = self.priority

        reasons = []
        for reasons_item_data in self.reasons:
            reasons_item = reasons_item_data.to_dict()
            reasons.append(reasons_item)

        reports = self.reports

        target_id = self.target_id

        target_type = self.target_type.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "escalated": escalated,
                "first_reported_at": first_reported_at,
                "last_reported_at": last_reported_at,
                "latest_report_id": latest_report_id,
                "priority": priority,
                "reasons": reasons,
                "reports": reports,
                "target_id": target_id,
                "target_type": target_type,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.reason_count_out import ReasonCountOut  # noqa: PLC0415

        d = dict(src_dict)
        escalated = d.pop("escalated")

        first_reported_at = datetime.datetime.fromisoformat(d.pop("first_reported_at"))

        last_reported_at = datetime.datetime.fromisoformat(d.pop("last_reported_at"))

        latest_report_id = UUID(d.pop("latest_report_id"))

        priority = d.pop("priority")

        reasons = []
        _reasons = d.pop("reasons")
        for reasons_item_data in _reasons:
            reasons_item = ReasonCountOut.from_dict(reasons_item_data)

            reasons.append(reasons_item)

        reports = d.pop("reports")

        target_id = d.pop("target_id")

        target_type = ReportTargetType(d.pop("target_type"))

        report_group_out = cls(
            escalated=escalated,
            first_reported_at=first_reported_at,
            last_reported_at=last_reported_at,
            latest_report_id=latest_report_id,
            priority=priority,
            reasons=reasons,
            reports=reports,
            target_id=target_id,
            target_type=target_type,
        )

        report_group_out.additional_properties = d
        return report_group_out

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
