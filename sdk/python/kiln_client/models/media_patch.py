from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.media_visibility import MediaVisibility

T = TypeVar("T", bound="MediaPatch")


@_attrs_define
class MediaPatch:
    """Changes to an upload.

    Attributes:
        visibility (MediaVisibility): Who may see an upload.
    """

    visibility: MediaVisibility

    def to_dict(self) -> dict[str, Any]:
        visibility = self.visibility.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "visibility": visibility,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        visibility = MediaVisibility(d.pop("visibility"))

        media_patch = cls(
            visibility=visibility,
        )

        return media_patch
