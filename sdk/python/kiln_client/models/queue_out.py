from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.queue_name import QueueName

T = TypeVar("T", bound="QueueOut")


@_attrs_define
class QueueOut:
    """One queue's numbers.

    Attributes:
        dead (int): Jobs that used every attempt; requeue them with `POST /v1/queues/{queue}/dead/retry`.
        delayed (int): Jobs waiting for their time (scheduled or retry backoff).
        in_flight (int): Jobs fetched by a worker and not finished.
        name (QueueName): A queue.
        oldest_ready_ms (int): How long the oldest ready job has waited, in milliseconds.
        ready (int): Jobs due and waiting for a worker.
    """

    dead: int
    delayed: int
    in_flight: int
    name: QueueName
    oldest_ready_ms: int
    ready: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dead = self.dead

        delayed = self.delayed

        in_flight = self.in_flight

        name = self.name.value

        oldest_ready_ms = self.oldest_ready_ms

        ready = self.ready

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dead": dead,
                "delayed": delayed,
                "in_flight": in_flight,
                "name": name,
                "oldest_ready_ms": oldest_ready_ms,
                "ready": ready,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dead = d.pop("dead")

        delayed = d.pop("delayed")

        in_flight = d.pop("in_flight")

        name = QueueName(d.pop("name"))

        oldest_ready_ms = d.pop("oldest_ready_ms")

        ready = d.pop("ready")

        queue_out = cls(
            dead=dead,
            delayed=delayed,
            in_flight=in_flight,
            name=name,
            oldest_ready_ms=oldest_ready_ms,
            ready=ready,
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
