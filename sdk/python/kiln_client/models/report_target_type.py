from enum import StrEnum


class ReportTargetType(StrEnum):
    EXTERNAL = "external"
    MEDIA = "media"
    USER = "user"

    def __str__(self) -> str:
        return str(self.value)
