from enum import StrEnum


class ReportDecisionStatus(StrEnum):
    DISMISSED = "dismissed"
    RESOLVED = "resolved"
    REVIEWING = "reviewing"

    def __str__(self) -> str:
        return str(self.value)
