from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.media_status import MediaStatus

T = TypeVar("T", bound="MediaAccepted")


@_attrs_define
class MediaAccepted:
    """Answer to an accepted upload.

    Attributes:
        job_id (UUID): The processing job; poll `GET /v1/jobs/{job_id}` or the media itself.
        media_id (UUID): The media id.
        status (MediaStatus): Where an upload is.
    """

    job_id: UUID
    media_id: UUID
    status: MediaStatus
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        job_id = str(self.job_id)

        media_id = str(self.media_id)

        status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "job_id": job_id,
                "media_id": media_id,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        job_id = UUID(d.pop("job_id"))

        media_id = UUID(d.pop("media_id"))

        status = MediaStatus(d.pop("status"))

        media_accepted = cls(
            job_id=job_id,
            media_id=media_id,
            status=status,
        )

        media_accepted.additional_properties = d
        return media_accepted

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
