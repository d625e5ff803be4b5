from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="CredentialsIn")


@_attrs_define
class CredentialsIn:
    """Email and password.

    Attributes:
        email (str): Email address (case does not matter).
        password (str): Password: at least `auth.password_min_length` characters (default 12), not the email.
    """

    email: str
    password: str

    def to_dict(self) -> dict[str, Any]:
        email = self.email

        password = self.password

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "email": email,
                "password": password,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        email = d.pop("email")

        password = d.pop("password")

        credentials_in = cls(
            email=email,
            password=password,
        )

        return credentials_in
