from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RedisQueueKeys")


@_attrs_define
class RedisQueueKeys:
    """Kiln's keys of one queue in Redis.

    Attributes:
        delayed (int): Members of its delayed set.
        indexed_jobs (int): Entries of its job → delivery index.
        keys (int): How many of its keys exist (stream, delayed set, job index, poison list).
        queue (str): The queue.
        stream_entries (int): Entries in its stream (ready, in flight and acknowledged not yet trimmed).
    """

    delayed: int
    indexed_jobs: int
    keys: int
    queue: str
    stream_entries: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        delayed = self.delayed

        indexed_jobs = self.indexed_jobs

        keys = self.keys

        queue = self.queue

        stream_entries = self.stream_entries

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "delayed": delayed,
                "indexed_jobs": indexed_jobs,
                "keys": keys,
                "queue": queue,
                "stream_entries": stream_entries,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        delayed = d.pop("delayed")

        indexed_jobs = d.pop("indexed_jobs")

        keys = d.pop("keys")

        queue = d.pop("queue")

        stream_entries = d.pop("stream_entries")

        redis_queue_keys = cls(
            delayed=delayed,
            indexed_jobs=indexed_jobs,
            keys=keys,
            queue=queue,
            stream_entries=stream_entries,
        )

        redis_queue_keys.additional_properties = d
        return redis_queue_keys

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
