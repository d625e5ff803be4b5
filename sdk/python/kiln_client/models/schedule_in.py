from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ScheduleIn")


@_attrs_define
class ScheduleIn:
    """A new schedule.

    Attributes:
        cron (str): Cron expression: five fields, or six with seconds first (`0 30 2 * * *`).
        name (str): A name for operators, e.g. `nightly`.
        enabled (bool | None | Unset): Whether it runs (default true).
        encrypted (bool | None | Unset): Encrypt its backups (default: when recipients are configured).
        keep_daily (int | None | Unset): Keep the newest backup of each of this many days (default 7).
        keep_monthly (int | None | Unset): Keep the newest backup of each of this many months (default 12).
        keep_weekly (int | None | Unset): Keep the newest backup of each of this many ISO weeks (default 4).
        timezone (None | str | Unset): IANA time zone the expression is read in (default `UTC`).
    """

    cron: str
    name: str
    enabled: bool | None | Unset = UNSET
    encrypted: bool | None | Unset = UNSET
    keep_daily: int | None | Unset = UNSET
    keep_monthly: int | None | Unset = UNSET
    keep_weekly: int | None | Unset = UNSET
    timezone: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        cron = self.cron

        name = self.name

        enabled: bool | None | Unset
        if isinstance(self.enabled, Unset):
            enabled = UNSET
        else:
            enabled = self.enabled

        encrypted: bool | None | Unset
        if isinstance(self.encrypted, Unset):
            encrypted = UNSET
        else:
            encrypted = self.encrypted

        keep_daily: int | None | Unset
        if isinstance(self.keep_daily, Unset):
            keep_daily = UNSET
        else:
            keep_daily = self.keep_daily

        keep_monthly: int | None | Unset
        if isinstance(self.keep_monthly, Unset):
            keep_monthly = UNSET
        else:
            keep_monthly = self.keep_monthly

        keep_weekly: int | None | Unset
        if isinstance(self.keep_weekly, Unset):
            keep_weekly = UNSET
        else:
            keep_weekly = self.keep_weekly

        timezone: None | str | Unset
        if isinstance(self.timezone, Unset):
            timezone = UNSET
        else:
            timezone = self.timezone

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cron": cron,
                "name": name,
            }
        )
        if enabled is not UNSET:
            field_dict["enabled"] = enabled
        if encrypted is not UNSET:
            field_dict["encrypted"] = encrypted
        if keep_daily is not UNSET:
            field_dict["keep_daily"] = keep_daily
        if keep_monthly is not UNSET:
            field_dict["keep_monthly"] = keep_monthly
        if keep_weekly is not UNSET:
            field_dict["keep_weekly"] = keep_weekly
        if timezone is not UNSET:
            field_dict["timezone"] = timezone

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cron = d.pop("cron")

        name = d.pop("name")

        def _parse_enabled(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        enabled = _parse_enabled(d.pop("enabled", UNSET))

        def _parse_encrypted(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        encrypted = _parse_encrypted(d.pop("encrypted", UNSET))

        def _parse_keep_daily(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        keep_daily = _parse_keep_daily(d.pop("keep_daily", UNSET))

        def _parse_keep_monthly(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        keep_monthly = _parse_keep_monthly(d.pop("keep_monthly", UNSET))

        def _parse_keep_weekly(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        keep_weekly = _parse_keep_weekly(d.pop("keep_weekly", UNSET))

        def _parse_timezone(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        timezone = _parse_timezone(d.pop("timezone", UNSET))

        schedule_in = cls(
            cron=cron,
            name=name,
            enabled=enabled,
            encrypted=encrypted,
            keep_daily=keep_daily,
            keep_monthly=keep_monthly,
            keep_weekly=keep_weekly,
            timezone=timezone,
        )

        return schedule_in
