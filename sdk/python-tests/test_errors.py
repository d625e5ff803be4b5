"""The one error shape, as the SDK's typed `ErrorBody`, against embedded `kiln serve`."""

from __future__ import annotations

import uuid

from kiln_client.api.auth import auth_register
from kiln_client.api.jobs import jobs_get
from kiln_client.api.media import media_get
from kiln_client.models import CredentialsIn
from support import KilnServer, Session, assert_error


def test_weak_password_is_typed_422_embedded_sqlite(server: KilnServer) -> None:
    email = f"sdk-py-{uuid.uuid4().hex[:12]}@example.com"
    # Kiln refuses a password made of one repeated character, whatever its length.
    resp = auth_register.sync_detailed(client=server.client(), body=CredentialsIn(email=email, password="a" * 40))
    err = assert_error(resp, 422, "validation_failed")
    assert "password" in err.message.lower(), err.message


def test_unknown_job_is_typed_404_embedded_sqlite(server: KilnServer, session: Session) -> None:
    # A request id of our own is reused by the server, in the body and the header.
    request_id = f"sdk-py-{uuid.uuid4()}"
    client = session.client.with_headers({"x-request-id": request_id})
    resp = jobs_get.sync_detailed(uuid.uuid4(), client=client)
    err = assert_error(resp, 404, "not_found")
    assert err.request_id == request_id

    # So is an unknown media, without a request id of ours: the server makes one.
    resp = media_get.sync_detailed(uuid.uuid4(), client=session.client)
    err = assert_error(resp, 404, "not_found")
    assert err.request_id != request_id
