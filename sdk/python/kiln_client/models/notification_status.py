from enum import StrEnum


class NotificationStatus(StrEnum):
    DEAD = "dead"
    FAILED = "failed"
    QUEUED = "queued"
    RECORDED = "recorded"
    RETRYING = "retrying"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return str(self.value)
