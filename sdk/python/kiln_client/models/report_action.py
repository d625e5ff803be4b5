from enum import StrEnum


class ReportAction(StrEnum):
    DELETE_MEDIA = "delete_media"
    DISABLE_USER = "disable_user"
    HIDE_MEDIA = "hide_media"
    NONE = "none"
    RESTORE_MEDIA = "restore_media"

    def __str__(self) -> str:
        return str(self.value)
