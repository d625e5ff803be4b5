"""Contains all the data models used in inputs/outputs"""

from .api_key_created_out import ApiKeyCreatedOut
from .api_key_in import ApiKeyIn
from .api_key_list import ApiKeyList
from .api_key_out import ApiKeyOut
from .attempt import Attempt
from .attempt_outcome import AttemptOutcome
from .audit_out import AuditOut
from .audit_page import AuditPage
from .backup_accepted import BackupAccepted
from .backup_database import BackupDatabase
from .backup_in import BackupIn
from .backup_out import BackupOut
from .backup_page import BackupPage
from .backup_status import BackupStatus
from .backup_trigger import BackupTrigger
from .backup_verify_status import BackupVerifyStatus
from .build_info import BuildInfo
from .channel import Channel
from .check_detail import CheckDetail
from .checks import Checks
from .checks_status import ChecksStatus
from .credentials_in import CredentialsIn
from .db_stats import DbStats
from .delivery_out import DeliveryOut
from .delivery_page import DeliveryPage
from .delivery_status import DeliveryStatus
from .dependency_state import DependencyState
from .dependency_status import DependencyStatus
from .device_in import DeviceIn
from .device_list import DeviceList
from .device_out import DeviceOut
from .error_body import ErrorBody
from .event_type import EventType
from .export_in import ExportIn
from .export_out import ExportOut
from .job_out import JobOut
from .job_page import JobPage
from .job_status import JobStatus
from .live import Live
from .live_status import LiveStatus
from .logout_in import LogoutIn
from .media_accepted import MediaAccepted
from .media_create_body import MediaCreateBody
from .media_out import MediaOut
from .media_patch import MediaPatch
from .media_status import MediaStatus
from .media_summary import MediaSummary
from .media_visibility import MediaVisibility
from .my_report_out import MyReportOut
from .my_report_page import MyReportPage
from .notification_in import NotificationIn
from .notification_in_params_type_0 import NotificationInParamsType0
from .notification_out import NotificationOut
from .notification_page import NotificationPage
from .notification_status import NotificationStatus
from .notifications_queued import NotificationsQueued
from .platform import Platform
from .process_stats import ProcessStats
from .purged_out import PurgedOut
from .queue_list import QueueList
from .queue_name import QueueName
from .queue_out import QueueOut
from .queue_transport import QueueTransport
from .ready import Ready
from .ready_status import ReadyStatus
from .reason_count_out import ReasonCountOut
from .redis_queue_keys import RedisQueueKeys
from .redis_stats import RedisStats
from .refresh_in import RefreshIn
from .report_action import ReportAction
from .report_action_out import ReportActionOut
from .report_decided import ReportDecided
from .report_decision_status import ReportDecisionStatus
from .report_detail import ReportDetail
from .report_group_out import ReportGroupOut
from .report_group_page import ReportGroupPage
from .report_in import ReportIn
from .report_out import ReportOut
from .report_patch import ReportPatch
from .report_reason import ReportReason
from .report_sort import ReportSort
from .report_status import ReportStatus
from .report_target_type import ReportTargetType
from .requeued import Requeued
from .role import Role
from .schedule_in import ScheduleIn
from .schedule_list import ScheduleList
from .schedule_out import ScheduleOut
from .schedule_patch import SchedulePatch
from .scope import Scope
from .started import Started
from .started_status import StartedStatus
from .startup_stages import StartupStages
from .target_summary import TargetSummary
from .template import Template
from .token_out import TokenOut
from .token_type import TokenType
from .user_out import UserOut
from .user_page import UserPage
from .user_patch_in import UserPatchIn
from .user_summary import UserSummary
from .variant_format import VariantFormat
from .variant_out import VariantOut
from .webhook_created_out import WebhookCreatedOut
from .webhook_in import WebhookIn
from .webhook_list import WebhookList
from .webhook_out import WebhookOut
from .webhook_patch import WebhookPatch
from .webhook_test_queued import WebhookTestQueued
from .worker_list import WorkerList
from .worker_out import WorkerOut

__all__ = (
    "ApiKeyCreatedOut",
    "ApiKeyIn",
    "ApiKeyList",
    "ApiKeyOut",
    "Attempt",
    "AttemptOutcome",
    "AuditOut",
    "AuditPage",
    "BackupAccepted",
    "BackupDatabase",
    "BackupIn",
    "BackupOut",
    "BackupPage",
    "BackupStatus",
    "BackupTrigger",
    "BackupVerifyStatus",
    "BuildInfo",
    "Channel",
    "CheckDetail",
    "Checks",
    "ChecksStatus",
    "CredentialsIn",
    "DbStats",
    "DeliveryOut",
    "DeliveryPage",
    "DeliveryStatus",
    "DependencyState",
    "DependencyStatus",
    "DeviceIn",
    "DeviceList",
    "DeviceOut",
    "ErrorBody",
    "EventType",
    "ExportIn",
    "ExportOut",
    "JobOut",
    "JobPage",
    "JobStatus",
    "Live",
    "LiveStatus",
    "LogoutIn",
    "MediaAccepted",
    "MediaCreateBody",
    "MediaOut",
    "MediaPatch",
    "MediaStatus",
    "MediaSummary",
    "MediaVisibility",
    "MyReportOut",
    "MyReportPage",
    "NotificationIn",
    "NotificationInParamsType0",
    "NotificationOut",
    "NotificationPage",
    "NotificationsQueued",
    "NotificationStatus",
    "Platform",
    "ProcessStats",
    "PurgedOut",
    "QueueList",
    "QueueName",
    "QueueOut",
    "QueueTransport",
    "Ready",
    "ReadyStatus",
    "ReasonCountOut",
    "RedisQueueKeys",
    "RedisStats",
    "RefreshIn",
    "ReportAction",
    "ReportActionOut",
    "ReportDecided",
    "ReportDecisionStatus",
    "ReportDetail",
    "ReportGroupOut",
    "ReportGroupPage",
    "ReportIn",
    "ReportOut",
    "ReportPatch",
    "ReportReason",
    "ReportSort",
    "ReportStatus",
    "ReportTargetType",
    "Requeued",
    "Role",
    "ScheduleIn",
    "ScheduleList",
    "ScheduleOut",
    "SchedulePatch",
    "Scope",
    "Started",
    "StartedStatus",
    "StartupStages",
    "TargetSummary",
    "Template",
    "TokenOut",
    "TokenType",
    "UserOut",
    "UserPage",
    "UserPatchIn",
    "UserSummary",
    "VariantFormat",
    "VariantOut",
    "WebhookCreatedOut",
    "WebhookIn",
    "WebhookList",
    "WebhookOut",
    "WebhookPatch",
    "WebhookTestQueued",
    "WorkerList",
    "WorkerOut",
)
