from enum import StrEnum


class ChecksStatus(StrEnum):
    DEGRADED = "degraded"
    READY = "ready"

    def __str__(self) -> str:
        return str(self.value)
