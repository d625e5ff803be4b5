from enum import StrEnum


class EventType(StrEnum):
    BACKUP_FAILED = "backup.failed"
    BACKUP_SUCCEEDED = "backup.succeeded"
    BACKUP_VERIFY_FAILED = "backup.verify_failed"
    JOB_DEAD = "job.dead"
    JOB_FAILED = "job.failed"
    JOB_SUCCEEDED = "job.succeeded"
    MEDIA_READY = "media.ready"
    REPORT_ESCALATED = "report.escalated"
    REPORT_UPDATED = "report.updated"

    def __str__(self) -> str:
        return str(self.value)
