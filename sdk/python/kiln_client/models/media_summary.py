from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="MediaSummary")


@_attrs_define
class MediaSummary:
    """The reported media, as a moderator sees it.

    Attributes:
        hidden (bool): Hidden by moderation.
        owner (str): Its owner's user id.
        status (str): `processing`, `ready` or `failed`.
        visibility (str): `private` or `public`.
        thumbnail_url (None | str | Unset): A thumbnail moderators may load, once processed.
    """

    hidden: bool
    owner: str
    status: str
    visibility: str
    thumbnail_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        hidden = self.hidden

        owner = self.owner

        status = self.status

        visibility = self.visibility

        thumbnail_url: None | str | Unset
        if isinstance(self.thumbnail_url, Unset):
            thumbnail_url = UNSET
        else:
            thumbnail_url = self.thumbnail_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "hidden": hidden,
                "owner": owner,
                "status": status,
                "visibility": visibility,
            }
        )
        if thumbnail_url is not UNSET:
            field_dict["thumbnail_url"] = thumbnail_url

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        hidden = d.pop("hidden")

        owner = d.pop("owner")

        status = d.pop("status")

        visibility = d.pop("visibility")

        def _parse_thumbnail_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        thumbnail_url = _parse_thumbnail_url(d.pop("thumbnail_url", UNSET))

        media_summary = cls(
            hidden=hidden,
            owner=owner,
            status=status,
            visibility=visibility,
            thumbnail_url=thumbnail_url,
        )

        media_summary.additional_properties = d
        return media_summary

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
