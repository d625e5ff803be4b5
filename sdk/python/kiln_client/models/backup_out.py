from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.backup_database import BackupDatabase
from ..models.backup_status import BackupStatus
from ..models.backup_trigger import BackupTrigger
from ..models.backup_verify_status import BackupVerifyStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="BackupOut")


@_attrs_define
class BackupOut:
    """A database backup.

    Attributes:
        attempts (int): Attempts of its job so far.
        created_at (datetime.datetime): When it was asked for.
        database (BackupDatabase): Which database a backup holds.
        encrypted (bool): Encrypted to the configured age recipients.
        id (UUID): The backup id.
        keep (bool): Kept until deleted (manual backups); false: its schedule's retention prunes it.
        requested_by (str): The user who asked, or `system`.
        status (BackupStatus): Where a backup is.
        trigger (BackupTrigger): Who asked for a backup.
        error (None | str | Unset): Why it failed (or why the last attempt did).
        finished_at (datetime.datetime | None | Unset): When it was stored or failed.
        job_id (None | Unset | UUID): Its `backup.run` job.
        location (None | str | Unset): Object key of the dump in storage.
        schedule_id (None | Unset | UUID): The schedule that made it.
        sha256 (None | str | Unset): Hex SHA-256 of the stored bytes (what the download sends).
        size_bytes (int | None | Unset): Stored bytes.
        source_bytes (int | None | Unset): Bytes of the dump before compression.
        started_at (datetime.datetime | None | Unset): When its latest attempt started.
        verified_at (datetime.datetime | None | Unset): When a restore of it last matched its manifest.
        verify_error (None | str | Unset): Why its verification failed.
        verify_status (BackupVerifyStatus | Unset): What a backup's verification found.
    """

    attempts: int
    created_at: datetime.datetime
    database: BackupDatabase
    encrypted: bool
    id: UUID
    keep: bool
    requested_by: str
    status: BackupStatus
    trigger: BackupTrigger
    error: None | str | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    job_id: None | Unset | UUID = UNSET
    location: None | str | Unset = UNSET
    schedule_id: None | Unset | UUID = UNSET
    sha256: None | str | Unset = UNSET
    size_bytes: int | None | Unset = UNSET
    source_bytes: int | None | Unset = UNSET
    started_at: datetime.datetime | None | Unset = UNSET
    verified_at: datetime.datetime | None | Unset = UNSET
    verify_error: None | str | Unset = UNSET
    verify_status: BackupVerifyStatus | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempts = self.attempts

        created_at = self.created_at.isoformat()

        database = self.database.value

        encrypted = self.encrypted

        id = str(self.id)

        keep = self.keep

        requested_by = self.requested_by

        status = self.status.value

        trigger = self.trigger.value

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        job_id: None | str | Unset
        if isinstance(self.job_id, Unset):
            job_id = UNSET
        elif isinstance(self.job_id, UUID):
            job_id = str(self.job_id)
        else:
            job_id = self.job_id

        location: None | str | Unset
        if isinstance(self.location, Unset):
            location = UNSET
        else:
            location = self.location

        schedule_id: None | str | Unset
        if isinstance(self.schedule_id, Unset):
            schedule_id = UNSET
        elif isinstance(self.schedule_id, UUID):
            schedule_id = str(self.schedule_id)
        else:
            schedule_id = self.schedule_id

        sha256: None | str | Unset
        if isinstance(self.sha256, Unset):
            sha256 = UNSET
        else:
            sha256 = self.sha256

        size_bytes: int | None | Unset
        if isinstance(self.size_bytes, Unset):
            size_bytes = UNSET
        else:
            size_bytes = self.size_bytes

        source_bytes: int | None | Unset
        if isinstance(self.source_bytes, Unset):
            source_bytes = UNSET
        else:
            source_bytes = self.source_bytes

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        verified_at: None | str | Unset
        if isinstance(self.verified_at, Unset):
            verified_at = UNSET
        elif isinstance(self.verified_at, datetime.datetime):
            verified_at = self.verified_at.isoformat()
        else:
            verified_at = self.verified_at

        verify_error: None | str | Unset
        if isinstance(self.verify_error, Unset):
            verify_error = UNSET
        else:
            verify_error = self.verify_error

        verify_status: str | Unset = UNSET
        if not isinstance(self.verify_status, Unset):
            verify_status = self.verify_status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempts": attempts,
                "created_at": created_at,
                "database": database,
                "encrypted": encrypted,
                "id": id,
                "keep": keep,
                "requested_by": requested_by,
                "status": status,
                "trigger": trigger,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if job_id is not UNSET:
            field_dict["job_id"] = job_id
        if location is not UNSET:
            field_dict["location"] = location
        if schedule_id is not UNSET:
            field_dict["schedule_id"] = schedule_id
        if sha256 is not UNSET:
            field_dict["sha256"] = sha256
        if size_bytes is not UNSET:
            field_dict["size_bytes"] = size_bytes
        if source_bytes is not UNSET:
            field_dict["source_bytes"] = source_bytes
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if verified_at is not UNSET:
            field_dict["verified_at"] = verified_at
        if verify_error is not UNSET:
            field_dict["verify_error"] = verify_error
        if verify_status is not UNSET:
            field_dict["verify_status"] = verify_status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        attempts = d.pop("attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        database = BackupDatabase(d.pop("database"))

        encrypted = d.pop("encrypted")

        id = UUID(d.pop("id"))

        keep = d.pop("keep")

        requested_by = d.pop("requested_by")

        status = BackupStatus(d.pop("status"))

        trigger = BackupTrigger(d.pop("trigger"))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

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

        def _parse_job_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                job_id_type_0 = UUID(data)

                return job_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        job_id = _parse_job_id(d.pop("job_id", UNSET))

        def _parse_location(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        location = _parse_location(d.pop("location", UNSET))

        def _parse_schedule_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                schedule_id_type_0 = UUID(data)

                return schedule_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        schedule_id = _parse_schedule_id(d.pop("schedule_id", UNSET))

        def _parse_sha256(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        sha256 = _parse_sha256(d.pop("sha256", UNSET))

        def _parse_size_bytes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        size_bytes = _parse_size_bytes(d.pop("size_bytes", UNSET))

        def _parse_source_bytes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        source_bytes = _parse_source_bytes(d.pop("source_bytes", UNSET))

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

        def _parse_verified_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                verified_at_type_0 = datetime.datetime.fromisoformat(data)

                return verified_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        verified_at = _parse_verified_at(d.pop("verified_at", UNSET))

        def _parse_verify_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        verify_error = _parse_verify_error(d.pop("verify_error", UNSET))

        _verify_status = d.pop("verify_status", UNSET)
        verify_status: BackupVerifyStatus | Unset
        if isinstance(_verify_status, Unset):
            verify_status = UNSET
        else:
            verify_status = BackupVerifyStatus(_verify_status)

        backup_out = cls(
            attempts=attempts,
            created_at=created_at,
            database=database,
            encrypted=encrypted,
            id=id,
            keep=keep,
            requested_by=requested_by,
            status=status,
            trigger=trigger,
            error=error,
            finished_at=finished_at,
            job_id=job_id,
            location=location,
            schedule_id=schedule_id,
            sha256=sha256,
            size_bytes=size_bytes,
            source_bytes=source_bytes,
            started_at=started_at,
            verified_at=verified_at,
            verify_error=verify_error,
            verify_status=verify_status,
        )

        backup_out.additional_properties = d
        return backup_out

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
