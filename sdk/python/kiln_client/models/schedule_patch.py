from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="SchedulePatch")


@_attrs_define
class SchedulePatch:
    """Changes to a schedule; absent fields stay as they are.

    Attributes:
        cron (None | str | Unset): Cron expression: five fields, or six with seconds first.
        enabled (bool | None | Unset): Whether it runs.
        encrypted (bool | None | Unset): Encrypt its backups.
        keep_daily (int | None | Unset): Days to keep.
        keep_monthly (int | None | Unset): Months to keep.
        keep_weekly (int | None | Unset): ISO weeks to keep.
        name (None | str | Unset): A name for operators.
        timezone (None | str | Unset): IANA time zone.
    """

    cron: None | str | Unset = UNSET
    enabled: bool | None | Unset = UNSET
    encrypted: bool | None | Unset = UNSET
    keep_daily: int | None | Unset = UNSET
    keep_monthly: int | None | Unset = UNSET
    keep_weekly: int | None | Unset = UNSET
    name: None | str | Unset = UNSET
    timezone: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        cron: None | str | Unset
        if isinstance(self.cron, Unset):
            cron = UNSET
        else:
            cron = self.cron

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

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        timezone: None | str | Unset
        if isinstance(self.timezone, Unset):
            timezone = UNSET
        else:
            timezone = self.timezone

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if cron is not UNSET:
            field_dict["cron"] = cron
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
        if name is not UNSET:
            field_dict["name"] = name
        if timezone is not UNSET:
            field_dict["timezone"] = timezone

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_cron(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cron = _parse_cron(d.pop("cron", UNSET))

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

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        def _parse_timezone(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        timezone = _parse_timezone(d.pop("timezone", UNSET))

        schedule_patch = cls(
            cron=cron,
            enabled=enabled,
            encrypted=encrypted,
            keep_daily=keep_daily,
            keep_monthly=keep_monthly,
            keep_weekly=keep_weekly,
            name=name,
            timezone=timezone,
        )

        return schedule_patch
