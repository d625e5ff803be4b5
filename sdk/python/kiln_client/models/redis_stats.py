from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.redis_queue_keys import RedisQueueKeys


T = TypeVar("T", bound="RedisStats")


@_attrs_define
class RedisStats:
    """The Redis server the queues live on.

    Attributes:
        aof_enabled (bool): True when the append-only file is on.
        connected_clients (int): Clients connected now.
        maxmemory_bytes (int): The memory limit in bytes; 0 when none is set.
        maxmemory_policy (str): What Redis does at the limit.
        maxmemory_policy_ok (bool): False unless the policy is `noeviction`: any other lets Redis drop
            queue keys under memory pressure (the sweeper re-pushes lost jobs,
            late).
        ops_per_sec (int): Commands per second, as Redis measures them.
        ping_ms (float): Round-trip time of a `PING` in milliseconds.
        queues (list[RedisQueueKeys]): Kiln's keys, by queue.
        uptime_secs (int): Seconds since the server started.
        used_memory_bytes (int): Memory in use, in bytes.
        version (str): `redis_version`.
    """

    aof_enabled: bool
    connected_clients: int
    maxmemory_bytes: int
    maxmemory_policy: str
    maxmemory_policy_ok: bool
    ops_per_sec: int
    ping_ms: float
    queues: list[RedisQueueKeys]
    uptime_secs: int
    used_memory_bytes: int
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        aof_enabled = self.aof_enabled

        connected_clients = self.connected_clients

        maxmemory_bytes = self.maxmemory_bytes

        maxmemory_policy = self.maxmemory_policy

        maxmemory_policy_ok = self.maxmemory_policy_ok

        ops_per_sec = self.ops_per_sec

        ping_ms = self.ping_ms

        queues = []
        for queues_item_data in self.queues:
            queues_item = queues_item_data.to_dict()
            queues.append(queues_item)

        uptime_secs = self.uptime_secs

        used_memory_bytes = self.used_memory_bytes

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "aof_enabled": aof_enabled,
                "connected_clients": connected_clients,
                "maxmemory_bytes": maxmemory_bytes,
                "maxmemory_policy": maxmemory_policy,
                "maxmemory_policy_ok": maxmemory_policy_ok,
                "ops_per_sec": ops_per_sec,
                "ping_ms": ping_ms,
                "queues": queues,
                "uptime_secs": uptime_secs,
                "used_memory_bytes": used_memory_bytes,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.redis_queue_keys import RedisQueueKeys  # noqa: PLC0415

        d = dict(src_dict)
        aof_enabled = d.pop("aof_enabled")

        connected_clients = d.pop("connected_clients")

        maxmemory_bytes = d.pop("maxmemory_bytes")

        maxmemory_policy = d.pop("maxmemory_policy")

        maxmemory_policy_ok = d.pop("maxmemory_policy_ok")

        ops_per_sec = d.pop("ops_per_sec")

        ping_ms = d.pop("ping_ms")

        queues = []
        _queues = d.pop("queues")
        for queues_item_data in _queues:
            queues_item = RedisQueueKeys.from_dict(queues_item_data)

            queues.append(queues_item)

        uptime_secs = d.pop("uptime_secs")

        used_memory_bytes = d.pop("used_memory_bytes")

        version = d.pop("version")

        redis_stats = cls(
            aof_enabled=aof_enabled,
            connected_clients=connected_clients,
            maxmemory_bytes=maxmemory_bytes,
            maxmemory_policy=maxmemory_policy,
            maxmemory_policy_ok=maxmemory_policy_ok,
            ops_per_sec=ops_per_sec,
            ping_ms=ping_ms,
            queues=queues,
            uptime_secs=uptime_secs,
            used_memory_bytes=used_memory_bytes,
            version=version,
        )

        redis_stats.additional_properties = d
        return redis_stats

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
