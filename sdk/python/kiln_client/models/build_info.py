from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BuildInfo")


@_attrs_define
class BuildInfo:
    """What the running binary was built from.

    Attributes:
        build_time (str): When it was built (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).
        git_commit (str): The git commit built (`unknown` outside a git checkout).
        rustc (str): The compiler (`rustc --version`).
        version (str): Kiln's version.
    """

    build_time: str
    git_commit: str
    rustc: str
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        build_time = self.build_time

        git_commit = self.git_commit

        rustc = self.rustc

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "build_time": build_time,
                "git_commit": git_commit,
                "rustc": rustc,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        build_time = d.pop("build_time")

        git_commit = d.pop("git_commit")

        rustc = d.pop("rustc")

        version = d.pop("version")

        build_info = cls(
            build_time=build_time,
            git_commit=git_commit,
            rustc=rustc,
            version=version,
        )

        build_info.additional_properties = d
        return build_info

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
