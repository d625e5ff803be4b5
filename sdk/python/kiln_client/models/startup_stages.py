from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="StartupStages")


@_attrs_define
class StartupStages:
    """Where start-up stands.

    Attributes:
        dependencies (bool): A check of every dependency has passed.
        migrations (bool): Every migration this build knows is applied.
        workers (bool | None | Unset): This process's workers run; absent in a process without workers.
    """

    dependencies: bool
    migrations: bool
    workers: bool | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dependencies = self.dependencies

        migrations = self.migrations

        workers: bool | None | Unset
        if isinstance(self.workers, Unset):
            workers = UNSET
        else:
            workers = self.workers

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dependencies": dependencies,
                "migrations": migrations,
            }
        )
        if workers is not UNSET:
            field_dict["workers"] = workers

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dependencies = d.pop("dependencies")

        migrations = d.pop("migrations")

        def _parse_workers(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        workers = _parse_workers(d.pop("workers", UNSET))

        startup_stages = cls(
            dependencies=dependencies,
            migrations=migrations,
            workers=workers,
        )

        startup_stages.additional_properties = d
        return startup_stages

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
