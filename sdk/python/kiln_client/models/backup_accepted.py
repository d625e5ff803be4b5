from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.backup_out import BackupOut


T = TypeVar("T", bound="BackupAccepted")


@_attrs_define
class BackupAccepted:
    """A queued backup.

    Attributes:
        backup (BackupOut): A database backup.
        job_id (UUID): Its `backup.run` job; poll `GET /v1/jobs/{job_id}` or the backup.
    """

    backup: BackupOut
    job_id: UUID
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        backup = self.backup.to_dict()

        job_id = str(self.job_id)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "backup": backup,
                "job_id": job_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.backup_out import BackupOut  # noqa: PLC0415

        d = dict(src_dict)
        backup = BackupOut.from_dict(d.pop("backup"))

        job_id = UUID(d.pop("job_id"))

        backup_accepted = cls(
            backup=backup,
            job_id=job_id,
        )

        backup_accepted.additional_properties = d
        return backup_accepted

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
