from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.token_type import TokenType

if TYPE_CHECKING:
    from ..models.user_out import UserOut


T = TypeVar("T", bound="TokenOut")


@_attrs_define
class TokenOut:
    """Tokens for a session.

    Attributes:
        access_token (str): Bearer token for `Authorization: Bearer …`.
        expires_in (int): Seconds until `access_token` expires.
        refresh_expires_at (datetime.datetime): When `refresh_token` expires.
        refresh_token (str): Opaque token for `POST /v1/auth/refresh`; single use, rotated on each refresh.
        token_type (TokenType): How an access token is presented: `Authorization: Bearer …`.
        user (UserOut): An account.
    """

    access_token: str
    expires_in: int
    refresh_expires_at: datetime.datetime
    refresh_token: str
    token_type: TokenType
    user: UserOut
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        access_token = self.access_token

        expires_in = self.expires_in

        refresh_expires_at = self.refresh_expires_at.isoformat()

        refresh_token = self.refresh_token

        token_type = self.token_type.value

        user = self.user.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "access_token": access_token,
                "expires_in": expires_in,
                "refresh_expires_at": refresh_expires_at,
                "refresh_token": refresh_token,
                "token_type": token_type,
                "user": user,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.user_out import UserOut  # noqa: PLC0415

        d = dict(src_dict)
        access_token = d.pop("access_token")

        expires_in = d.pop("expires_in")

        refresh_expires_at = datetime.datetime.fromisoformat(d.pop("refresh_expires_at"))

        refresh_token = d.pop("refresh_token")

        token_type = TokenType(d.pop("token_type"))

        user = UserOut.from_dict(d.pop("user"))

        token_out = cls(
            access_token=access_token,
            expires_in=expires_in,
            refresh_expires_at=refresh_expires_at,
            refresh_token=refresh_token,
            token_type=token_type,
            user=user,
        )

        token_out.additional_properties = d
        return token_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
