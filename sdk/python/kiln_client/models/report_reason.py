from enum import StrEnum


class ReportReason(StrEnum):
    COPYRIGHT = "copyright"
    HARASSMENT = "harassment"
    HATE = "hate"
    ILLEGAL = "illegal"
    IMPERSONATION = "impersonation"
    OTHER = "other"
    SELF_HARM = "self_harm"
    SEXUAL = "sexual"
    SPAM = "spam"
    VIOLENCE = "violence"

    def __str__(self) -> str:
        return str(self.value)
