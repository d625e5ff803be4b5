from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.report_action import ReportAction
from ..models.report_decision_status import ReportDecisionStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="ReportPatch")


@_attrs_define
class ReportPatch:
    """A moderator's decision.

    Attributes:
        status (ReportDecisionStatus): The status a moderator moves a report to.
        action (ReportAction | Unset): What a moderator does about a report's target.
        apply_to_target (bool | None | Unset): Also close every other open report on the same target (with `resolved` or
            `dismissed`).
        note (None | str | Unset): A private note for the moderators (at most 2,000 characters; never shown to the
            reporter).
    """

    status: ReportDecisionStatus
    action: ReportAction | Unset = UNSET
    apply_to_target: bool | None | Unset = UNSET
    note: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        action: str | Unset = UNSET
        if not isinstance(self.action, Unset):
            action = self.action.value

        apply_to_target: bool | None | Unset
        if isinstance(self.apply_to_target, Unset):
            apply_to_target = UNSET
        else:
            apply_to_target = self.apply_to_target

        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "status": status,
            }
        )
        if action is not UNSET:
            field_dict["action"] = action
        if apply_to_target is not UNSET:
            field_dict["apply_to_target"] = apply_to_target
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = ReportDecisionStatus(d.pop("status"))

        _action = d.pop("action", UNSET)
        action: ReportAction | Unset
        if isinstance(_action, Unset):
            action = UNSET
        else:
            action = ReportAction(_action)

        def _parse_apply_to_target(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        apply_to_target = _parse_apply_to_target(d.pop("apply_to_target", UNSET))

        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        note = _parse_note(d.pop("note", UNSET))

        report_patch = cls(
            status=status,
            action=action,
            apply_to_target=apply_to_target,
            note=note,
        )

        return report_patch
