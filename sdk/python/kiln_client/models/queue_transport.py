from enum import StrEnum


class QueueTransport(StrEnum):
    DATABASE = "database"
    REDIS = "redis"

    def __str__(self) -> str:
        return str(self.value)
