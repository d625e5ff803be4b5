from enum import StrEnum


class Scope(StrEnum):
    BACKUPS_ADMIN = "backups:admin"
    JOBS_READ = "jobs:read"
    JOBS_WRITE = "jobs:write"
    MEDIA_READ = "media:read"
    MEDIA_WRITE = "media:write"
    NOTIFICATIONS_WRITE = "notifications:write"
    QUEUES_ADMIN = "queues:admin"
    QUEUES_READ = "queues:read"
    REPORTS_MODERATE = "reports:moderate"
    REPORTS_READ = "reports:read"
    REPORTS_WRITE = "reports:write"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"

    def __str__(self) -> str:
        return str(self.value)
