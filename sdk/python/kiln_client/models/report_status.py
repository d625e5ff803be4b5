from enum import StrEnum


class ReportStatus(StrEnum):
    DISMISSED = "dismissed"
    OPEN = "open"
    RESOLVED = "resolved"
    REVIEWING = "reviewing"

    def __str__(self) -> str:
        return str(self.value)
