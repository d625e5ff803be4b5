from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.report_out import ReportOut


T = TypeVar("T", bound="ReportDecided")


@_attrs_define
class ReportDecided:
    """The reports a decision changed.

    Attributes:
        also_changed (list[UUID]): The other reports on its target it closed (with `apply_to_target`).
        report (ReportOut): A report as moderators see it.
    """

    also_changed: list[UUID]
    report: ReportOut
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        also_changed = []
        for also_changed_item_data in self.also_changed:
            also_changed_item = str(also_changed_item_data)
            also_changed.append(also_changed_item)

        report = self.report.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "also_changed": also_changed,
                "report": report,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.report_out import ReportOut  # noqa: PLC0415

        d = dict(src_dict)
        also_changed = []
        _also_changed = d.pop("also_changed")
        for also_changed_item_data in _also_changed:
            also_changed_item = UUID(also_changed_item_data)

            also_changed.append(also_changed_item)

        report = ReportOut.from_dict(d.pop("report"))

        report_decided = cls(
            also_changed=also_changed,
            report=report,
        )

        report_decided.additional_properties = d
        return report_decided

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
