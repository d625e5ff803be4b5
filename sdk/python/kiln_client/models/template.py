from enum import StrEnum


class Template(StrEnum):
    JOB_FINISHED = "job_finished"
    REPORT_STATUS = "report_status"
    WELCOME = "welcome"

    def __str__(self) -> str:
        return str(self.value)
