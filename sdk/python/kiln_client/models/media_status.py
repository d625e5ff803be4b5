from enum import StrEnum


class MediaStatus(StrEnum):
    FAILED = "failed"
    HIDDEN = "hidden"
    PROCESSING = "processing"
    READY = "ready"

    def __str__(self) -> str:
        return str(self.value)
