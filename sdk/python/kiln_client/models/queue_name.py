from enum import StrEnum


class QueueName(StrEnum):
    BACKUPS = "backups"
    MEDIA = "media"
    NOTIFICATIONS = "notifications"
    REPORTS = "reports"
    WEBHOOKS = "webhooks"

    def __str__(self) -> str:
        return str(self.value)
