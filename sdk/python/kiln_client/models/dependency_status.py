from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.dependency_state import DependencyState

T = TypeVar("T", bound="DependencyStatus")


@_attrs_define
class DependencyStatus:
    """One dependency's state as public answers show it: name and state only.

    Attributes:
        latency_ms (float): Round-trip time of the check in milliseconds.
        name (str): `database`, `queue` (the database's queue tables) or `redis`, and `storage`.
        status (DependencyState): A dependency's state.
    """

    latency_ms: float
    name: str
    status: DependencyState
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        latency_ms = self.latency_ms

        name = self.name

        status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "latency_ms": latency_ms,
                "name": name,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        latency_ms = d.pop("latency_ms")

        name = d.pop("name")

        status = DependencyState(d.pop("status"))

        dependency_status = cls(
            latency_ms=latency_ms,
            name=name,
            status=status,
        )

        dependency_status.additional_properties = d
        return dependency_status

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
