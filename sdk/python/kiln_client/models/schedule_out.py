from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.backup_out import BackupOut


T = TypeVar("T", bound="ScheduleOut")


@_attrs_define
class ScheduleOut:
    """A backup schedule.

    Attributes:
        created_at (datetime.datetime): When it was created.
        created_by (str): Who created it.
        cron (str): Cron expression.
        enabled (bool): Whether it runs.
        encrypted (bool): Its backups are encrypted.
        id (UUID): The schedule id.
        keep_daily (int): Days kept.
        keep_monthly (int): Months kept.
        keep_weekly (int): ISO weeks kept.
        name (str): Its name.
        timezone (str): IANA time zone.
        updated_at (datetime.datetime): When it last changed.
        last_backup (BackupOut | Unset): A database backup.
        last_tick_at (datetime.datetime | None | Unset): The latest tick a scheduler queued.
        next_run_at (datetime.datetime | None | Unset): When its next backup is due (absent when disabled).
    """

    created_at: datetime.datetime
    created_by: str
    cron: str
    enabled: bool
    encrypted: bool
    id: UUID
    keep_daily: int
    keep_monthly: int
    keep_weekly: int
    name: str
    timezone: str
    updated_at: datetime.datetime
    last_backup: BackupOut | Unset = UNSET
    last_tick_at: datetime.datetime | None | Unset = UNSET
    next_run_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        created_by = self.created_by

        cron = self.cron

        enabled = self.enabled

        encrypted = self.encrypted

        id = str(self.id)

        keep_daily = self.keep_daily

        keep_monthly = self.keep_monthly

        keep_weekly = self.keep_weekly

        name = self.name

        timezone = self.timezone

        updated_at = self.updated_at.isoformat()

        last_backup: dict[str, Any] | Unset = UNSET
        if not isinstance(self.last_backup, Unset):
            last_backup = self.last_backup.to_dict()

        last_tick_at: None | str | Unset
        if isinstance(self.last_tick_at, Unset):
            last_tick_at = UNSET
        elif isinstance(self.last_tick_at, datetime.datetime):
            last_tick_at = self.last_tick_at.isoformat()
        else:
            last_tick_at = self.last_tick_at

        next_run_at: None | str | Unset
        if isinstance(self.next_run_at, Unset):
            next_run_at = UNSET
        elif isinstance(self.next_run_at, datetime.datetime):
            next_run_at = self.next_run_at.isoformat()
        else:
            next_run_at = self.next_run_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "created_by": created_by,
                "cron": cron,
                "enabled": enabled,
                "encrypted": encrypted,
                "id": id,
                "keep_daily": keep_daily,
                "keep_monthly": keep_monthly,
                "keep_weekly": keep_weekly,
                "name": name,
                "timezone": timezone,
                "updated_at": updated_at,
            }
        )
        if last_backup is not UNSET:
            field_dict["last_backup"] = last_backup
        if last_tick_at is not UNSET:
            field_dict["last_tick_at"] = last_tick_at
        if next_run_at is not UNSET:
            field_dict["next_run_at"] = next_run_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.backup_out import BackupOut  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        created_by = d.pop("created_by")

        cron = d.pop("cron")

        enabled = d.pop("enabled")

        encrypted = d.pop("encrypted")

        id = UUID(d.pop("id"))

        keep_daily = d.pop("keep_daily")

        keep_monthly = d.pop("keep_monthly")

        keep_weekly = d.pop("keep_weekly")

        name = d.pop("name")

        timezone = d.pop("timezone")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        _last_backup = d.pop("last_backup", UNSET)
        last_backup: BackupOut | Unset
        if isinstance(_last_backup, Unset):
            last_backup = UNSET
        else:
            last_backup = BackupOut.from_dict(_last_backup)

        def _parse_last_tick_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_tick_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_tick_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_tick_at = _parse_last_tick_at(d.pop("last_tick_at", UNSET))

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

        schedule_out = cls(
            created_at=created_at,
            created_by=created_by,
            cron=cron,
            enabled=enabled,
            encrypted=encrypted,
            id=id,
            keep_daily=keep_daily,
            keep_monthly=keep_monthly,
            keep_weekly=keep_weekly,
            name=name,
            timezone=timezone,
            updated_at=updated_at,
            last_backup=last_backup,
            last_tick_at=last_tick_at,
            next_run_at=next_run_at,
        )

        schedule_out.additional_properties = d
        return schedule_out

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
