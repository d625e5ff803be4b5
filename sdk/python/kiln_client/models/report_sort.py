from enum import StrEnum


class ReportSort(StrEnum):
    AGE = "age"
    PRIORITY = "priority"

    def __str__(self) -> str:
        return str(self.value)
