from enum import StrEnum


class AttemptOutcome(StrEnum):
    CANCELLED = "cancelled"
    DEAD = "dead"
    FAILED = "failed"
    LOST = "lost"
    RETRIED = "retried"
    RUNNING = "running"
    SUCCEEDED = "succeeded"

    def __str__(self) -> str:
        return str(self.value)
