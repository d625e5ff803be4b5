from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.report_action_out import ReportActionOut
    from ..models.report_out import ReportOut
    from ..models.target_summary import TargetSummary


T = TypeVar("T", bound="ReportDetail")


@_attrs_define
class ReportDetail:
    """A report with its target and the other reports on it.

    Attributes:
        history (list[ReportActionOut]): Every change to this report, oldest first.
        others (list[ReportOut]): The other reports on the same target, newest first (at most 100).
        report (ReportOut): A report as moderators see it.
        target (TargetSummary): What a report is about, summed up.
    """

    history: list[ReportActionOut]
    others: list[ReportOut]
    report: ReportOut
    target: TargetSummary
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        history = []
        for history_item_data in self.history:
            history_item = history_item_data.to_dict()
            history.append(history_item)

        others = []
        for others_item_data in self.others:
            others_item = others_item_data.to_dict()
            others.append(others_item)

        report = self.report.to_dict()

        target = self.target.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "history": history,
                "others": others,
                "report": report,
                "target": target,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.report_action_out import ReportActionOut  # noqa: PLC0415
        from ..models.report_out import ReportOut  # noqa: PLC0415
        from ..models.target_summary import TargetSummary  # noqa: PLC0415

        d = dict(src_dict)
        history = []
        _history = d.pop("history")
        for history_item_data in _history:
            history_item = ReportActionOut.from_dict(history_item_data)

            history.append(history_item)

        others = []
        _others = d.pop("others")
        for others_item_data in _others:
            others_item = ReportOut.from_dict(others_item_data)

            others.append(others_item)

        report = ReportOut.from_dict(d.pop("report"))

        target = TargetSummary.from_dict(d.pop("target"))

        report_detail = cls(
            history=history,
            others=others,
            report=report,
            target=target,
        )

        report_detail.additional_properties = d
        return report_detail

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
