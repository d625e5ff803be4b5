from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.media_status import MediaStatus
from ..models.media_visibility import MediaVisibility
from ..models.report_reason import ReportReason
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.variant_out import VariantOut


T = TypeVar("T", bound="MediaOut")


@_attrs_define
class MediaOut:
    """An uploaded image and its variants.

    Attributes:
        created_at (datetime.datetime): Upload time.
        id (UUID): The media id.
        job_id (UUID): The processing job.
        source_bytes (int): Size of the original in bytes.
        source_format (str): Detected source format.
        status (MediaStatus): Where an upload is.
        variants (list[VariantOut]): Variants (empty until ready).
        visibility (MediaVisibility): Who may see an upload.
        blurhash (None | str | Unset): A BlurHash placeholder.
        dominant_color (None | str | Unset): Dominant colour as `#rrggbb`.
        error (None | str | Unset): Why processing failed.
        filename (None | str | Unset): The uploaded file's name, as sent.
        height (int | None | Unset): Height after EXIF orientation.
        hidden_reason (ReportReason | Unset): Why something is reported.
        width (int | None | Unset): Width after EXIF orientation.
    """

    created_at: datetime.datetime
    id: UUID
    job_id: UUID
    source_bytes: int
    source_format: str
    status: MediaStatus
    variants: list[VariantOut]
    visibility: MediaVisibility
    blurhash: None | str | Unset = UNSET
    dominant_color: None | str | Unset = UNSET
    error: None | str | Unset = UNSET
    filename: None | str | Unset = UNSET
    height: int | None | Unset = UNSET
    hidden_reason: ReportReason | Unset = UNSET
    width: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        id = str(self.id)

        job_id = str(self.job_id)

        source_bytes = self.source_bytes

        source_format = self.source_format

        status = self.status.value

        variants = []
        for variants_item_data in self.variants:
            variants_item = variants_item_data.to_dict()
            variants.append(variants_item)

        visibility = self.visibility.value

        blurhash: None | str | Unset
        if isinstance(self.blurhash, Unset):
            blurhash = UNSET
        else:
            blurhash = self.blurhash

        dominant_color: None | str | Unset
        if isinstance(self.dominant_color, Unset):
            dominant_color = UNSET
        else:
            dominant_color = self.dominant_color

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        filename: None | str | Unset
        if isinstance(self.filename, Unset):
            filename = UNSET
        else:
            filename = self.filename

        height: int | None | Unset
        if isinstance(self.height, Unset):
            height = UNSET
        else:
            height = self.height

        hidden_reason: str | Unset = UNSET
        if not isinstance(self.hidden_reason, Unset):
            hidden_reason = self.hidden_reason.value

        width: int | None | Unset
        if isinstance(self.width, Unset):
            width = UNSET
        else:
            width = self.width

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "job_id": job_id,
                "source_bytes": source_bytes,
                "source_format": source_format,
                "status": status,
                "variants": variants,
                "visibility": visibility,
            }
        )
        if blurhash is not UNSET:
            field_dict["blurhash"] = blurhash
        if dominant_color is not UNSET:
            field_dict["dominant_color"] = dominant_color
        if error is not UNSET:
            field_dict["error"] = error
        if filename is not UNSET:
            field_dict["filename"] = filename
        if height is not UNSET:
            field_dict["height"] = height
        if hidden_reason is not UNSET:
            field_dict["hidden_reason"] = hidden_reason
        if width is not UNSET:
            field_dict["width"] = width

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.variant_out import VariantOut  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        job_id = UUID(d.pop("job_id"))

        source_bytes = d.pop("source_bytes")

        source_format = d.pop("source_format")

        status = MediaStatus(d.pop("status"))

        variants = []
        _variants = d.pop("variants")
        for variants_item_data in _variants:
            variants_item = VariantOut.from_dict(variants_item_data)

            variants.append(variants_item)

        visibility = MediaVisibility(d.pop("visibility"))

        def _parse_blurhash(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        blurhash = _parse_blurhash(d.pop("blurhash", UNSET))

        def _parse_dominant_color(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        dominant_color = _parse_dominant_color(d.pop("dominant_color", UNSET))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_filename(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        filename = _parse_filename(d.pop("filename", UNSET))

        def _parse_height(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        height = _parse_height(d.pop("height", UNSET))

        _hidden_reason = d.pop("hidden_reason", UNSET)
        hidden_reason: ReportReason | Unset
        if isinstance(_hidden_reason, Unset):
            hidden_reason = UNSET
        else:
            hidden_reason = ReportReason(_hidden_reason)

        def _parse_width(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        width = _parse_width(d.pop("width", UNSET))

        media_out = cls(
            created_at=created_at,
            id=id,
            job_id=job_id,
            source_bytes=source_bytes,
            source_format=source_format,
            status=status,
            variants=variants,
            visibility=visibility,
            blurhash=blurhash,
            dominant_color=dominant_color,
            error=error,
            filename=filename,
            height=height,
            hidden_reason=hidden_reason,
            width=width,
        )

        media_out.additional_properties = d
        return media_out

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
