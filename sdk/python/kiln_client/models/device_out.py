from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.platform import Platform
from ..types import UNSET, Unset

T = TypeVar("T", bound="DeviceOut")


@_attrs_define
class DeviceOut:
    """A registered device. The token itself is never shown again; `token_hint`
    is its last characters.

        Attributes:
            active (bool): False once FCM said the token is no longer registered; pushes skip it.
                Registering the token again reactivates it.
            created_at (datetime.datetime): When it was first registered.
            id (UUID): Device id.
            platform (Platform): The platform of a device.
            token_hint (str): The last 8 characters of the token.
            updated_at (datetime.datetime): When it was last registered or changed.
            app_version (None | str | Unset): The app's version.
            last_error (None | str | Unset): Why it was deactivated.
    """

    active: bool
    created_at: datetime.datetime
    id: UUID
    platform: Platform
    token_hint: str
    updated_at: datetime.datetime
    app_version: None | str | Unset = UNSET
    last_error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        active = self.active

        created_at = self.created_at.isoformat()

        id = str(self.id)

        platform = self.platform.value

        token_hint = self.token_hint

        updated_at = self.updated_at.isoformat()

        app_version: None | str | Unset
        if isinstance(self.app_version, Unset):
            app_version = UNSET
        else:
            app_version = self.app_version

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "active": active,
                "created_at": created_at,
                "id": id,
                "platform": platform,
                "token_hint": token_hint,
                "updated_at": updated_at,
            }
        )
        if app_version is not UNSET:
            field_dict["app_version"] = app_version
        if last_error is not UNSET:
            field_dict["last_error"] = last_error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        active = d.pop("active")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        platform = Platform(d.pop("platform"))

        token_hint = d.pop("token_hint")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_app_version(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        app_version = _parse_app_version(d.pop("app_version", UNSET))

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))

        device_out = cls(
            active=active,
            created_at=created_at,
            id=id,
            platform=platform,
            token_hint=token_hint,
            updated_at=updated_at,
            app_version=app_version,
            last_error=last_error,
        )

        device_out.additional_properties = d
        return device_out

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
