from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.platform import Platform
from ..types import UNSET, Unset

T = TypeVar("T", bound="DeviceIn")


@_attrs_define
class DeviceIn:
    """A device to register.

    Attributes:
        platform (Platform): The platform of a device.
        token (str): The FCM registration token the app got from the Firebase SDK.
        app_version (None | str | Unset): The app's version, for support (at most 64 characters).
    """

    platform: Platform
    token: str
    app_version: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        platform = self.platform.value

        token = self.token

        app_version: None | str | Unset
        if isinstance(self.app_version, Unset):
            app_version = UNSET
        else:
            app_version = self.app_version

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "platform": platform,
                "token": token,
            }
        )
        if app_version is not UNSET:
            field_dict["app_version"] = app_version

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        platform = Platform(d.pop("platform"))

        token = d.pop("token")

        def _parse_app_version(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        app_version = _parse_app_version(d.pop("app_version", UNSET))

        device_in = cls(
            platform=platform,
            token=token,
            app_version=app_version,
        )

        return device_in
