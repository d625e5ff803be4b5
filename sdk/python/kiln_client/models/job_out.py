from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.job_status import JobStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attempt import Attempt


T = TypeVar("T", bound="JobOut")


@_attrs_define
class JobOut:
    """A job as the ledger records it.

    Attributes:
        attempt_history (list[Attempt]): Every attempt so far, oldest first, with its timing and error.
        attempts (int): Attempts started so far.
        created_at (datetime.datetime): When it was enqueued.
        id (UUID): Job id (UUIDv7).
        kind (str): Kind, e.g. `image.process`.
        max_attempts (int): Attempts allowed before the job is `dead`.
        payload (Any): What the job was given (its tagged JSON), with the value of any field
            whose name looks secret (`secret`, `password`, `token`, `*_key`, …)
            replaced by `"[redacted]"`.
        progress (int): Progress, 0–100.
        queue (str): Queue it runs on.
        status (JobStatus): Status of a job.
        finished_at (datetime.datetime | None | Unset): When it reached a terminal status.
        idempotency_key (None | str | Unset): The idempotency key it was created with.
        last_error (None | str | Unset): The last failure's reason.
        next_run_at (datetime.datetime | None | Unset): When the next attempt is due (scheduled retries and delayed
            jobs).
        result (Any | Unset): The handler's result, once succeeded.
        started_at (datetime.datetime | None | Unset): When the current or last attempt started.
    """

    attempt_history: list[Attempt]
    attempts: int
    created_at: datetime.datetime
    id: UUID
    kind: str
    max_attempts: int
    payload: Any
    progress: int
    queue: str
    status: JobStatus
    finished_at: datetime.datetime | None | Unset = UNSET
    idempotency_key: None | str | Unset = UNSET
    last_error: None | str | Unset = UNSET
    next_run_at: datetime.datetime | None | Unset = UNSET
    result: Any | Unset = UNSET
    started_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempt_history = []
        for attempt_history_item_data in self.attempt_history:
            attempt_history_item = attempt_history_item_data.to_dict()
            attempt_history.append(attempt_history_item)

        attempts = self.attempts

        created_at = self.created_at.isoformat()

        id = str(self.id)

        kind = self.kind

        max_attempts = self.max_attempts

        payload = self.payload

        progress = self.progress

        queue = self.queue

        status = self.status.value

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        idempotency_key: None | str | Unset
        if isinstance(self.idempotency_key, Unset):
            idempotency_key = UNSET
        else:
            idempotency_key = self.idempotency_key

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        next_run_at: None | str | Unset
        if isinstance(self.next_run_at, Unset):
            next_run_at = UNSET
        elif isinstance(self.next_run_at, datetime.datetime):
            next_run_at = self.next_run_at.isoformat()
        else:
            next_run_at = self.next_run_at

        result = self.result

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempt_history": attempt_history,
                "attempts": attempts,
                "created_at": created_at,
                "id": id,
                "kind": kind,
                "max_attempts": max_attempts,
                "payload": payload,
                "progress": progress,
                "queue": queue,
                "status": status,
            }
        )
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if idempotency_key is not UNSET:
            field_dict["idempotency_key"] = idempotency_key
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if next_run_at is not UNSET:
            field_dict["next_run_at"] = next_run_at
        if result is not UNSET:
            field_dict["result"] = result
        if started_at is not UNSET:
            field_dict["started_at"] = started_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.attempt import Attempt  # noqa: PLC0415

        d = dict(src_dict)
        attempt_history = []
        _attempt_history = d.pop("attempt_history")
        for attempt_history_item_data in _attempt_history:
            attempt_history_item = Attempt.from_dict(attempt_history_item_data)

            attempt_history.append(attempt_history_item)

        attempts = d.pop("attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        kind = d.pop("kind")

        max_attempts = d.pop("max_attempts")

        payload = d.pop("payload")

        progress = d.pop("progress")

        queue = d.pop("queue")

        status = JobStatus(d.pop("status"))

        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        def _parse_idempotency_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        idempotency_key = _parse_idempotency_key(d.pop("idempotency_key", UNSET))

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))

        def _parse_next_run_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_run_at_type_0 = datetime.datetime.fromisoformat(data)

                return next_run_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        next_run_at = _parse_next_run_at(d.pop("next_run_at", UNSET))

        result = d.pop("result", UNSET)

        def _parse_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

        job_out = cls(
            attempt_history=attempt_history,
            attempts=attempts,
            created_at=created_at,
            id=id,
            kind=kind,
            max_attempts=max_attempts,
            payload=payload,
            progress=progress,
            queue=queue,
            status=status,
            finished_at=finished_at,
            idempotency_key=idempotency_key,
            last_error=last_error,
            next_run_at=next_run_at,
            result=result,
            started_at=started_at,
        )

        job_out.additional_properties = d
        return job_out

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
