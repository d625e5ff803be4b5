from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.started_status import StartedStatus

if TYPE_CHECKING:
    from ..models.startup_stages import StartupStages


T = TypeVar("T", bound="Started")


@_attrs_define
class Started:
    """Startup answer.

    Attributes:
        stages (StartupStages): Where start-up stands.
        status (StartedStatus): The startup state of a 200 answer.
    """

    stages: StartupStages
    status: StartedStatus
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        stages = self.stages.to_dict()

        status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "stages": stages,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.startup_stages import StartupStages  # noqa: PLC0415

        d = dict(src_dict)
        stages = StartupStages.from_dict(d.pop("stages"))

        status = StartedStatus(d.pop("status"))

        started = cls(
            stages=stages,
            status=status,
        )

        started.additional_properties = d
        return started

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
