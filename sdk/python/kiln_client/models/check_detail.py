from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.dependency_state import DependencyState
from ..types import UNSET, Unset

T = TypeVar("T", bound="CheckDetail")


@_attrs_define
class CheckDetail:
    """One dependency check, with the cause of a failure. The cause names hosts,
    buckets and paths: public answers leave it out ([`Check::public`]).

        Attributes:
            latency_ms (float): Round-trip time of the check in milliseconds.
            name (str): `database`, `queue` (the database's queue tables) or `redis`, and `storage`.
            status (DependencyState): A dependency's state.
            error (None | str | Unset): Why it is down; absent when up.
    """

    latency_ms: float
    name: str
    status: DependencyState
    error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        latency_ms = self.latency_ms

        name = self.name

        status = self.status.value

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "latency_ms": latency_ms,
                "name": name,
                "status": status,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        latency_ms = d.pop("latency_ms")

        name = d.pop("name")

        status = DependencyState(d.pop("status"))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        check_detail = cls(
            latency_ms=latency_ms,
            name=name,
            status=status,
            error=error,
        )

        check_detail.additional_properties = d
        return check_detail

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
