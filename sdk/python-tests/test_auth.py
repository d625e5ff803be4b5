"""Accounts, tokens and API keys through the generated SDK, against embedded `kiln serve`."""

from __future__ import annotations

import io

from kiln_client.api.api_keys import api_keys_create
from kiln_client.api.auth import auth_refresh, me_get
from kiln_client.api.jobs import jobs_list
from kiln_client.api.media import media_create
from kiln_client.models import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    JobPage,
    MediaCreateBody,
    RefreshIn,
    Role,
    Scope,
    TokenOut,
    UserOut,
)
from kiln_client.types import File
from support import PASSWORD, KilnServer, Session, assert_error, login


def test_register_and_login_embedded_sqlite(server: KilnServer, session: Session) -> None:
    # `session` registered a new account (201) and logged in with it.
    assert session.user.email == session.email
    assert session.user.role == Role.USER
    assert not session.user.disabled
    assert session.tokens.token_type == "Bearer"
    assert session.tokens.expires_in > 0
    assert session.tokens.refresh_token.startswith("kiln_rt_")

    me = me_get.sync_detailed(client=session.client)
    assert me.status_code == 200, me.content
    assert isinstance(me.parsed, UserOut)
    assert me.parsed.id == session.user.id
    assert me.parsed.email == session.email

    # A second login is a second session of the same account.
    again = login(server, session.email, PASSWORD)
    assert again.user.id == session.user.id
    assert again.tokens.refresh_token != session.tokens.refresh_token


def test_refresh_rotates_the_pair_embedded_sqlite(server: KilnServer, session: Session) -> None:
    old_refresh = session.tokens.refresh_token
    resp = auth_refresh.sync_detailed(client=server.client(), body=RefreshIn(refresh_token=old_refresh))
    assert resp.status_code == 200, resp.content
    fresh = resp.parsed
    assert isinstance(fresh, TokenOut)
    assert fresh.refresh_token != old_refresh
    assert fresh.user.id == session.user.id

    me = me_get.sync_detailed(client=server.bearer(fresh.access_token))
    assert me.status_code == 200, me.content
    assert isinstance(me.parsed, UserOut) and me.parsed.id == session.user.id

    # The old refresh token is used up: presenting it again is reuse.
    reused = auth_refresh.sync_detailed(client=server.client(), body=RefreshIn(refresh_token=old_refresh))
    assert_error(reused, 401, "invalid_refresh_token")


def test_api_key_with_scope_works_embedded_sqlite(server: KilnServer, session: Session) -> None:
    created = api_keys_create.sync_detailed(
        client=session.client, body=ApiKeyIn(name="sdk-py jobs reader", scopes=[Scope.JOBS_READ])
    )
    assert created.status_code == 201, created.content
    key = created.parsed
    assert isinstance(key, ApiKeyCreatedOut)
    assert key.key.startswith(key.prefix)
    assert list(key.scopes) == [Scope.JOBS_READ.value]

    listed = jobs_list.sync_detailed(client=server.api_key(key.key))
    assert listed.status_code == 200, listed.content
    assert isinstance(listed.parsed, JobPage)
    # A new account has no jobs yet.
    assert listed.parsed.items == []

    me = me_get.sync_detailed(client=server.api_key(key.key))
    assert me.status_code == 200, me.content
    assert isinstance(me.parsed, UserOut) and me.parsed.id == session.user.id


def test_api_key_lacking_scope_gets_403_embedded_sqlite(
    server: KilnServer, session: Session, photo_bytes: bytes
) -> None:
    created = api_keys_create.sync_detailed(
        client=session.client, body=ApiKeyIn(name="sdk-py read only", scopes=[Scope.JOBS_READ, Scope.MEDIA_READ])
    )
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, ApiKeyCreatedOut)

    # Uploading needs media:write, which the key lacks.
    upload = media_create.sync_detailed(
        client=server.api_key(created.parsed.key),
        body=MediaCreateBody(file=File(payload=io.BytesIO(photo_bytes), file_name="photo.jpg", mime_type="image/jpeg")),
    )
    assert_error(upload, 403, "insufficient_scope")
