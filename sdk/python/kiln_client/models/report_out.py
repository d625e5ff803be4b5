from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.report_action import ReportAction
from ..models.report_reason import ReportReason
from ..models.report_status import ReportStatus
from ..models.report_target_type import ReportTargetType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ReportOut")


@_attrs_define
class ReportOut:
    """A report as moderators see it.

    Attributes:
        created_at (datetime.datetime): When it was filed.
        id (UUID): The report id.
        priority (float): Its target's priority.
        reason (ReportReason): Why something is reported.
        reporter_id (UUID): Who reported it.
        reporter_new_account (bool): The reporter's account was younger than a day (counts half in the priority).
        status (ReportStatus): Where a report is in review.
        target_id (str): Which one.
        target_type (ReportTargetType): What a report is about.
        updated_at (datetime.datetime): When it last changed.
        action (ReportAction | Unset): What a moderator does about a report's target.
        closed_at (datetime.datetime | None | Unset): When it was resolved or dismissed.
        details (None | str | Unset): The reporter's words.
        note (None | str | Unset): The moderators' private note.
        reviewed_by (None | str | Unset): Who last changed it.
        triage_job_id (None | Unset | UUID): Its `report.triage` job.
    """

    created_at: datetime.datetime
    id: UUID
    priority: float
    reason: ReportReason
    reporter_id: UUID
    reporter_new_account: bool
    status: ReportStatus
    target_id: str
    target_type: ReportTargetType
    updated_at: datetime.datetime
    action: ReportAction | Unset = UNSET
    closed_at: datetime.datetime | None | Unset = UNSET
    details: None | str | Unset = UNSET
    note: None | str | Unset = UNSET
    reviewed_by: None | str | Unset = UNSET
    triage_job_id: None | Unset | UUID = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        id = str(self.id)

        priority = self.priority

        reason = self.reason.value

        reporter_id = str(self.reporter_id)

        reporter_new_account = self.reporter_new_account

        status = self.status.value

        target_id = self.target_id

        target_type = self.target_type.value

        updated_at = self.updated_at.isoformat()

        action: str | Unset = UNSET
        if not isinstance(self.action, Unset):
            action = self.action.value

        closed_at: None | str | Unset
        if isinstance(self.closed_at, Unset):
            closed_at = UNSET
        elif isinstance(self.closed_at, datetime.datetime):
            closed_at = self.closed_at.isoformat()
        else:
            closed_at = self.closed_at

        details: None | str | Unset
        if isinstance(self.details, Unset):
            details = UNSET
        else:
            details = self.details

        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note

        reviewed_by: None | str | Unset
        if isinstance(self.reviewed_by, Unset):
            reviewed_by = UNSET
        else:
            reviewed_by = self.reviewed_by

        triage_job_id: None | str | Unset
        if isinstance(self.triage_job_id, Unset):
            triage_job_id = UNSET
        elif isinstance(self.triage_job_id, UUID):
            triage_job_id = str(self.triage_job_id)
        else:
            triage_job_id = self.triage_job_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "priority": priority,
                "reason": reason,
                "reporter_id": reporter_id,
                "reporter_new_account": reporter_new_account,
                "status": status,
                "target_id": target_id,
                "target_type": target_type,
                "updated_at": updated_at,
            }
        )
        if action is not UNSET:
            field_dict["action"] = action
        if closed_at is not UNSET:
            field_dict["closed_at"] = closed_at
        if details is not UNSET:
            field_dict["details"] = details
        if note is not UNSET:
            field_dict["note"] = note
        if reviewed_by is not UNSET:
            field_dict["reviewed_by"] = reviewed_by
        if triage_job_id is not UNSET:
            field_dict["triage_job_id"] = triage_job_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        priority = d.pop("priority")

        reason = ReportReason(d.pop("reason"))

        reporter_id = UUID(d.pop("reporter_id"))

        reporter_new_account = d.pop("reporter_new_account")

        status = ReportStatus(d.pop("status"))

        target_id = d.pop("target_id")

        target_type = ReportTargetType(d.pop("target_type"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        _action = d.pop("action", UNSET)
        action: ReportAction | Unset
        if isinstance(_action, Unset):
            action = UNSET
        else:
            action = ReportAction(_action)

        def _parse_closed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                closed_at_type_0 = datetime.datetime.fromisoformat(data)

                return closed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        closed_at = _parse_closed_at(d.pop("closed_at", UNSET))

        def _parse_details(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        details = _parse_details(d.pop("details", UNSET))

        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        note = _parse_note(d.pop("note", UNSET))

        def _parse_reviewed_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reviewed_by = _parse_reviewed_by(d.pop("reviewed_by", UNSET))

        def _parse_triage_job_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                triage_job_id_type_0 = UUID(data)

                return triage_job_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        triage_job_id = _parse_triage_job_id(d.pop("triage_job_id", UNSET))

        report_out = cls(
            created_at=created_at,
            id=id,
            priority=priority,
            reason=reason,
            reporter_id=reporter_id,
            reporter_new_account=reporter_new_account,
            status=status,
            target_id=target_id,
            target_type=target_type,
            updated_at=updated_at,
            action=action,
            closed_at=closed_at,
            details=details,
            note=note,
            reviewed_by=reviewed_by,
            triage_job_id=triage_job_id,
        )

        report_out.additional_properties = d
        return report_out

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
