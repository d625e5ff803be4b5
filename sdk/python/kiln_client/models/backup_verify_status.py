from enum import StrEnum


class BackupVerifyStatus(StrEnum):
    CHECKSUM_ONLY = "checksum_only"
    FAILED = "failed"
    PASSED = "passed"

    def __str__(self) -> str:
        return str(self.value)
