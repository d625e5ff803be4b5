from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.queue_name import QueueName

T = TypeVar("T", bound="WorkerOut")


@_attrs_define
class WorkerOut:
    """A live worker process.

    Attributes:
        concurrency (int): Jobs it may run at once, summed over its queues.
        heartbeat_at (datetime.datetime): Its last heartbeat (every 5 s; a worker silent for 15 s is not listed).
        host (str): Its host name (the pod's, in Kubernetes).
        id (str): `<host>-<random>`, unique per process start.
        in_flight (int): Jobs it runs now (as of its last heartbeat).
        pid (int): Its process id.
        queues (list[QueueName]): The queues it runs.
        started_at (datetime.datetime): When it started.
        version (str): Kiln's version it runs.
    """

    concurrency: int
    heartbeat_at: datetime.datetime
    host: str
    id: str
    in_flight: int
    pid: int
    queues: list[QueueName]
    started_at: datetime.datetime
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        concurrency = self.concurrency

        heartbeat_at = self.heartbeat_at.isoformat()

        host = self.host

        id = self.id

        in_flight = self.in_flight

        pid = self.pid

        queues = []
        for queues_item_data in self.queues:
            queues_item = queues_item_data.value
            queues.append(queues_item)

        started_at = self.started_at.isoformat()

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "concurrency": concurrency,
                "heartbeat_at": heartbeat_at,
                "host": host,
                "id": id,
                "in_flight": in_flight,
                "pid": pid,
                "queues": queues,
                "started_at": started_at,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        concurrency = d.pop("concurrency")

        heartbeat_at = datetime.datetime.fromisoformat(d.pop("heartbeat_at"))

        host = d.pop("host")

        id = d.pop("id")

        in_flight = d.pop("in_flight")

        pid = d.pop("pid")

        queues = []
        _queues = d.pop("queues")
        for queues_item_data in _queues:
            queues_item = QueueName(queues_item_data)

            queues.append(queues_item)

        started_at = datetime.datetime.fromisoformat(d.pop("started_at"))

        version = d.pop("version")

        worker_out = cls(
            concurrency=concurrency,
            heartbeat_at=heartbeat_at,
            host=host,
            id=id,
            in_flight=in_flight,
            pid=pid,
            queues=queues,
            started_at=started_at,
            version=version,
        )

        worker_out.additional_properties = d
        return worker_out

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
