from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="DbStats")


@_attrs_define
class DbStats:
    """The database and its connection pool.

    Attributes:
        acquire_samples (int): Timed acquisitions kept (one a second, the last five minutes).
        acquire_waits (int): Of them, how many found no idle connection and had to wait.
        idle (int): Of them, idle.
        in_use (int): Of them, in use.
        kind (str): `sqlite` or `postgres`.
        pool_max (int): Most connections the pool opens.
        pool_size (int): Connections open now.
        size_bytes (int): The database's size on disk in bytes.
        acquire_p99_ms (float | None | Unset): The 99th percentile of the timed acquisitions, in milliseconds.
        connections (int | None | Unset): PostgreSQL: connections to this database now (every client, not only this
            process).
        max_connections (int | None | Unset): PostgreSQL: the server's `max_connections`.
    """

    acquire_samples: int
    acquire_waits: int
    idle: int
    in_use: int
    kind: str
    pool_max: int
    pool_size: int
    size_bytes: int
    acquire_p99_ms: float | None | Unset = UNSET
    connections: int | None | Unset = UNSET
    max_connections: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        acquire_samples = self.acquire_samples

        acquire_waits = self.acquire_waits

        idle = self.idle

        in_use = self.in_use

        kind = self.kind

        pool_max = self.pool_max

        pool_size = self.pool_size

        size_bytes = self.size_bytes

        acquire_p99_ms: float | None | Unset
        if isinstance(self.acquire_p99_ms, Unset):
            acquire_p99_ms = UNSET
        else:
            acquire_p99_ms = self.acquire_p99_ms

        connections: int | None | Unset
        if isinstance(self.connections, Unset):
            connections = UNSET
        else:
            connections = self.connections

        max_connections: int | None | Unset
        if isinstance(self.max_connections, Unset):
            max_connections = UNSET
        else:
            max_connections = self.max_connections

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "acquire_samples": acquire_samples,
                "acquire_waits": acquire_waits,
                "idle": idle,
                "in_use": in_use,
                "kind": kind,
                "pool_max": pool_max,
                "pool_size": pool_size,
                "size_bytes": size_bytes,
            }
        )
        if acquire_p99_ms is not UNSET:
            field_dict["acquire_p99_ms"] = acquire_p99_ms
        if connections is not UNSET:
            field_dict["connections"] = connections
        if max_connections is not UNSET:
            field_dict["max_connections"] = max_connections

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        acquire_samples = d.pop("acquire_samples")

        acquire_waits = d.pop("acquire_waits")

        idle = d.pop("idle")

        in_use = d.pop("in_use")

        kind = d.pop("kind")

        pool_max = d.pop("pool_max")

        pool_size = d.pop("pool_size")

        size_bytes = d.pop("size_bytes")

        def _parse_acquire_p99_ms(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        acquire_p99_ms = _parse_acquire_p99_ms(d.pop("acquire_p99_ms", UNSET))

        def _parse_connections(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        connections = _parse_connections(d.pop("connections", UNSET))

        def _parse_max_connections(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_connections = _parse_max_connections(d.pop("max_connections", UNSET))

        db_stats = cls(
            acquire_samples=acquire_samples,
            acquire_waits=acquire_waits,
            idle=idle,
            in_use=in_use,
            kind=kind,
            pool_max=pool_max,
            pool_size=pool_size,
            size_bytes=size_bytes,
            acquire_p99_ms=acquire_p99_ms,
            connections=connections,
            max_connections=max_connections,
        )

        db_stats.additional_properties = d
        return db_stats

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
