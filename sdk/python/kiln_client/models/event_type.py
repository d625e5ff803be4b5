from enum import StrEnum


class EventType(StrEnum):
    JOB_DEAD = "job.dead"
    JOB_FAILED = "job.failed"
    JOB_SUCCEEDED = "job.succeeded"
    MEDIA_READY = "media.ready"

    def __str__(self) -> str:
        return str(self.value)
