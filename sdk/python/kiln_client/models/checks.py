from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.checks_status import ChecksStatus

if TYPE_CHECKING:
    from ..models.check_detail import CheckDetail


T = TypeVar("T", bound="Checks")


@_attrs_define
class Checks:
    """The readiness checks with their causes, as operators read them.

    Attributes:
        checks (list[CheckDetail]): Every dependency checked, with why it is down.
        status (ChecksStatus): The state of every check together.
    """

    checks: list[CheckDetail]
    status: ChecksStatus
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        checks = []
        for checks_item_data in self.checks:
            checks_item = checks_item_data.to_dict()
            checks.append(checks_item)

        status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checks": checks,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.check_detail import CheckDetail  # noqa: PLC0415

        d = dict(src_dict)
        checks = []
        _checks = d.pop("checks")
        for checks_item_data in _checks:
            checks_item = CheckDetail.from_dict(checks_item_data)

            checks.append(checks_item)

        status = ChecksStatus(d.pop("status"))

        checks = cls(
            checks=checks,
            status=status,
        )

        checks.additional_properties = d
        return checks

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
