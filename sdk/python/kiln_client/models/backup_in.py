from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="BackupIn")


@_attrs_define
class BackupIn:
    """A backup to run now.

    Attributes:
        encrypted (bool | None | Unset): Encrypt to the configured age recipients (default: when recipients are
            configured).
    """

    encrypted: bool | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        encrypted: bool | None | Unset
        if isinstance(self.encrypted, Unset):
            encrypted = UNSET
        else:
            encrypted = self.encrypted

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if encrypted is not UNSET:
            field_dict["encrypted"] = encrypted

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_encrypted(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        encrypted = _parse_encrypted(d.pop("encrypted", UNSET))

        backup_in = cls(
            encrypted=encrypted,
        )

        return backup_in
