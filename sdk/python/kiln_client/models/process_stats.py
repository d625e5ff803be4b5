from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ProcessStats")


@_attrs_define
class ProcessStats:
    """This process.

    Attributes:
        pid (int): Its process id.
        tokio_tasks (int): Tasks alive on the async runtime.
        uptime_secs (float): Seconds since the process started.
        cpu_seconds (float | None | Unset): CPU time used, user plus system, in seconds.
        max_fds (int | None | Unset): The most it may open.
        open_fds (int | None | Unset): File descriptors open now.
        rss_bytes (int | None | Unset): Resident memory in bytes (absent where the platform does not say).
        threads (int | None | Unset): Threads.
    """

    pid: int
    tokio_tasks: int
    uptime_secs: float
    cpu_seconds: float | None | Unset = UNSET
    max_fds: int | None | Unset = UNSET
    open_fds: int | None | Unset = UNSET
    rss_bytes: int | None | Unset = UNSET
    threads: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        pid = self.pid

        tokio_tasks = self.tokio_tasks

        uptime_secs = self.uptime_secs

        cpu_seconds: float | None | Unset
        if isinstance(self.cpu_seconds, Unset):
            cpu_seconds = UNSET
        else:
            cpu_seconds = self.cpu_seconds

        max_fds: int | None | Unset
        if isinstance(self.max_fds, Unset):
            max_fds = UNSET
        else:
            max_fds = self.max_fds

        open_fds: int | None | Unset
        if isinstance(self.open_fds, Unset):
            open_fds = UNSET
        else:
            open_fds = self.open_fds

        rss_bytes: int | None | Unset
        if isinstance(self.rss_bytes, Unset):
            rss_bytes = UNSET
        else:
            rss_bytes = self.rss_bytes

        threads: int | None | Unset
        if isinstance(self.threads, Unset):
            threads = UNSET
        else:
            threads = self.threads

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "pid": pid,
                "tokio_tasks": tokio_tasks,
                "uptime_secs": uptime_secs,
            }
        )
        if cpu_seconds is not UNSET:
            field_dict["cpu_seconds"] = cpu_seconds
        if max_fds is not UNSET:
            field_dict["max_fds"] = max_fds
        if open_fds is not UNSET:
            field_dict["open_fds"] = open_fds
        if rss_bytes is not UNSET:
            field_dict["rss_bytes"] = rss_bytes
        if threads is not UNSET:
            field_dict["threads"] = threads

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        pid = d.pop("pid")

        tokio_tasks = d.pop("tokio_tasks")

        uptime_secs = d.pop("uptime_secs")

        def _parse_cpu_seconds(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        cpu_seconds = _parse_cpu_seconds(d.pop("cpu_seconds", UNSET))

        def _parse_max_fds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_fds = _parse_max_fds(d.pop("max_fds", UNSET))

        def _parse_open_fds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        open_fds = _parse_open_fds(d.pop("open_fds", UNSET))

        def _parse_rss_bytes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        rss_bytes = _parse_rss_bytes(d.pop("rss_bytes", UNSET))

        def _parse_threads(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        threads = _parse_threads(d.pop("threads", UNSET))

        process_stats = cls(
            pid=pid,
            tokio_tasks=tokio_tasks,
            uptime_secs=uptime_secs,
            cpu_seconds=cpu_seconds,
            max_fds=max_fds,
            open_fds=open_fds,
            rss_bytes=rss_bytes,
            threads=threads,
        )

        process_stats.additional_properties = d
        return process_stats

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
