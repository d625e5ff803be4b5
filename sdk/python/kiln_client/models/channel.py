from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"

    def __str__(self) -> str:
        return str(self.value)
