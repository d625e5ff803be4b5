from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.channel import Channel
from ..models.template import Template
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.notification_in_params_type_0 import NotificationInParamsType0


T = TypeVar("T", bound="NotificationIn")


@_attrs_define
class NotificationIn:
    """A notification to send.

    Attributes:
        channels (list[Channel]): Channels, each at most once.
        template (Template): A notification template (`jobs/templates/email/`).
        user_id (UUID): The recipient's user id.
        params (None | NotificationInParamsType0 | Unset): Template parameters: a JSON object. `display_name` defaults
            to the
            address's local part and `app_url` to Kiln's public URL; `email` is
            always the recipient's.
    """

    channels: list[Channel]
    template: Template
    user_id: UUID
    params: None | NotificationInParamsType0 | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.notification_in_params_type_0 import NotificationInParamsType0  # noqa: PLC0415

        channels = []
        for channels_item_data in self.channels:
            channels_item = channels_item_data.value
            channels.append(channels_item)

        template = self.template.value

        user_id = str(self.user_id)

        params: dict[str, Any] | None | Unset
        if isinstance(self.params, Unset):
            params = UNSET
        elif isinstance(self.params, NotificationInParamsType0):
            params = self.params.to_dict()
        else:
            params = self.params

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "channels": channels,
                "template": template,
                "user_id": user_id,
            }
        )
        if params is not UNSET:
            field_dict["params"] = params

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.notification_in_params_type_0 import NotificationInParamsType0  # noqa: PLC0415

        d = dict(src_dict)
        channels = []
        _channels = d.pop("channels")
        for channels_item_data in _channels:
            channels_item = Channel(channels_item_data)

            channels.append(channels_item)

        template = Template(d.pop("template"))

        user_id = UUID(d.pop("user_id"))

        def _parse_params(data: object) -> None | NotificationInParamsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                params_type_0 = NotificationInParamsType0.from_dict(data)

                return params_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | NotificationInParamsType0 | Unset, data)

        params = _parse_params(d.pop("params", UNSET))

        notification_in = cls(
            channels=channels,
            template=template,
            user_id=user_id,
            params=params,
        )

        return notification_in
