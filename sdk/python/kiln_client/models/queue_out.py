from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.queue_name import QueueName
from ..types import UNSET, Unset

T = TypeVar("T", bound="QueueOut")


@_attrs_define
class QueueOut:
    """One queue's numbers.

    Attributes:
        dead (int): Jobs that used every attempt; requeue them with `POST /v1/queues/{queue}/dead/retry`.
        delayed (int): Jobs waiting for their time (scheduled or retry backoff).
        failed_per_minute (list[int]): Jobs that failed or died in each of those minutes.
        in_flight (int): Jobs fetched by a worker and not finished.
        name (QueueName): A queue.
        oldest_ready_ms (int): How long the oldest ready job has waited, in milliseconds.
        paused (bool): True while an operator has paused the queue: its workers start
            nothing new, and enqueueing goes on.
        ready (int): Jobs due and waiting for a worker.
        succeeded_per_minute (list[int]): Jobs that succeeded in each of the last 60 minutes, oldest first (the
            last entry is the current minute), summed over every worker process.
        paused_at (datetime.datetime | None | Unset): When it was paused; null when running.
        paused_by (None | str | Unset): Who paused it (a user id, or `cli`); null when running.
    """

    dead: int
    delayed: int
    failed_per_minute: list[int]
    in_flight: int
    name: QueueName
    oldest_ready_ms: int
    paused: bool
    ready: int
    succeeded_per_minute: list[int]
    paused_at: datetime.datetime | None | Unset = UNSET
    paused_by: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dead = self.dead

        delayed = self.delayed

        failed_per_minute = self.failed_per_minute

        in_flight = self.in_flight

        name = self.name.value

        oldest_ready_ms = self.oldest_ready_ms

        paused = self.paused

        ready = self.ready

        succeeded_per_minute = self.succeeded_per_minute

        paused_at: None | str | Unset
        if isinstance(self.paused_at, Unset):
            paused_at = UNSET
        elif isinstance(self.paused_at, datetime.datetime):
            paused_at = self.paused_at.isoformat()
        else:
            paused_at = self.paused_at

        paused_by: None | str | Unset
        if isinstance(self.paused_by, Unset):
            paused_by = UNSET
        else:
            paused_by = self.paused_by

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dead": dead,
                "delayed": delayed,
                "failed_per_minute": failed_per_minute,
                "in_flight": in_flight,
                "name": name,
                "oldest_ready_ms": oldest_ready_ms,
                "paused": paused,
                "ready": ready,
                "succeeded_per_minute": succeeded_per_minute,
            }
        )
        if paused_at is not UNSET:
            field_dict["paused_at"] = paused_at
        if paused_by is not UNSET:
            field_dict["paused_by"] = paused_by

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dead = d.pop("dead")

        delayed = d.pop("delayed")

        failed_per_minute = cast(list[int], d.pop("failed_per_minute"))

        in_flight = d.pop("in_flight")

        name = QueueName(d.pop("name"))

        oldest_ready_ms = d.pop("oldest_ready_ms")

        paused = d.pop("paused")

        ready = d.pop("ready")

        succeeded_per_minute = cast(list[int], d.pop("succeeded_per_minute"))

        def _parse_paused_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                paused_at_type_0 = datetime.datetime.fromisoformat(data)

                return paused_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        paused_at = _parse_paused_at(d.pop("paused_at", UNSET))

        def _parse_paused_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        paused_by = _parse_paused_by(d.pop("paused_by", UNSET))

        queue_out = cls(
            dead=dead,
            delayed=delayed,
            failed_per_minute=failed_per_minute,
            in_flight=in_flight,
            name=name,
            oldest_ready_ms=oldest_ready_ms,
            paused=paused,
            ready=ready,
            succeeded_per_minute=succeeded_per_minute,
            paused_at=paused_at,
            paused_by=paused_by,
        )

        queue_out.additional_properties = d
        return queue_out

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
