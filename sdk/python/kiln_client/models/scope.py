from enum import StrEnum


class Scope(StrEnum):
    BACKUPSADMIN = "backups:admin"
    JOBSREAD = "jobs:read"
    JOBSWRITE = "jobs:write"
    MEDIAREAD = "media:read"
    MEDIAWRITE = "media:write"
    NOTIFICATIONSWRITE = "notifications:write"
    QUEUESADMIN = "queues:admin"
    QUEUESREAD = "queues:read"
    WEBHOOKSREAD = "webhooks:read"
    WEBHOOKSWRITE = "webhooks:write"

    def __str__(self) -> str:
        return str(self.value)
