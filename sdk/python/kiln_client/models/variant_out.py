from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.variant_format import VariantFormat

T = TypeVar("T", bound="VariantOut")


@_attrs_define
class VariantOut:
    """A processed variant.

    Attributes:
        bytes_ (int): Size in bytes.
        content_type (str): MIME type.
        format_ (VariantFormat): A variant's image format.
        height (int): Height in pixels.
        name (str): Name in the download URL, e.g. `thumb.webp`.
        preset (str): Preset it was made for (`thumb`, `small`, `large`, …).
        url (str): Download URL.
        width (int): Width in pixels.
    """

    bytes_: int
    content_type: str
    format_: VariantFormat
    height: int
    name: str
    preset: str
    url: str
    width: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        bytes_ = self.bytes_

        content_type = self.content_type

        format_ = self.format_.value

        height = self.height

        name = self.name

        preset = self.preset

        url = self.url

        width = self.width

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "bytes": bytes_,
                "content_type": content_type,
                "format": format_,
                "height": height,
                "name": name,
                "preset": preset,
                "url": url,
                "width": width,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        bytes_ = d.pop("bytes")

        content_type = d.pop("content_type")

        format_ = VariantFormat(d.pop("format"))

        height = d.pop("height")

        name = d.pop("name")

        preset = d.pop("preset")

        url = d.pop("url")

        width = d.pop("width")

        variant_out = cls(
            bytes_=bytes_,
            content_type=content_type,
            format_=format_,
            height=height,
            name=name,
            preset=preset,
            url=url,
            width=width,
        )

        variant_out.additional_properties = d
        return variant_out

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
