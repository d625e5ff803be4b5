from enum import StrEnum


class VariantFormat(StrEnum):
    JPEG = "jpeg"
    WEBP = "webp"

    def __str__(self) -> str:
        return str(self.value)
