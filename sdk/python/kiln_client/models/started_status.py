from enum import StrEnum


class StartedStatus(StrEnum):
    STARTED = "started"

    def __str__(self) -> str:
        return str(self.value)
