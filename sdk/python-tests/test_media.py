"""Uploads, jobs and variants through the generated SDK, against embedded `kiln serve`."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import pytest
from PIL import Image

from kiln_client.api.jobs import jobs_get
from kiln_client.api.media import media_create, media_get, media_variant_get
from kiln_client.models import ErrorBody, JobOut, JobStatus, MediaAccepted, MediaCreateBody, MediaOut
from kiln_client.types import File, Response
from support import PHOTO, KilnServer, Session, poll, register_and_login

TERMINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED}


def upload(session: Session, photo: bytes, idempotency_key: str | None = None) -> Response[ErrorBody | MediaAccepted]:
    body = MediaCreateBody(file=File(payload=io.BytesIO(photo), file_name=PHOTO.name, mime_type="image/jpeg"))
    if idempotency_key is None:
        return media_create.sync_detailed(client=session.client, body=body)
    return media_create.sync_detailed(client=session.client, body=body, idempotency_key=idempotency_key)


@dataclass
class Uploaded:
    session: Session
    accepted: MediaAccepted


@pytest.fixture(scope="module")
def uploaded(server: KilnServer, photo_bytes: bytes) -> Uploaded:
    """The test photo, uploaded once for this module's tests by a new account."""
    session = register_and_login(server)
    resp = upload(session, photo_bytes)
    assert resp.status_code == 202, resp.content
    assert isinstance(resp.parsed, MediaAccepted)
    return Uploaded(session=session, accepted=resp.parsed)


def test_upload_jpeg_multipart_embedded_sqlite(server: KilnServer, session: Session, photo_bytes: bytes) -> None:
    key = f"sdk-py-{uuid.uuid4()}"
    first = upload(session, photo_bytes, idempotency_key=key)
    assert first.status_code == 202, first.content
    accepted = first.parsed
    assert isinstance(accepted, MediaAccepted)
    assert accepted.status == "processing"
    assert first.headers["location"] == f"/v1/media/{accepted.media_id}"

    # The server read the whole file out of the generated client's multipart body.
    media = media_get.sync_detailed(accepted.media_id, client=session.client)
    assert media.status_code == 200, media.content
    assert isinstance(media.parsed, MediaOut)
    assert media.parsed.source_bytes == len(photo_bytes)
    assert media.parsed.filename == PHOTO.name
    assert media.parsed.source_format == "jpeg"
    assert media.parsed.job_id == accepted.job_id

    # The same idempotency key answers the first upload again, with 200.
    again = upload(session, photo_bytes, idempotency_key=key)
    assert again.status_code == 200, again.content
    assert isinstance(again.parsed, MediaAccepted)
    assert (again.parsed.media_id, again.parsed.job_id) == (accepted.media_id, accepted.job_id)


def test_poll_job_to_succeeded_embedded_sqlite(uploaded: Uploaded) -> None:
    client = uploaded.session.client

    def fetch() -> JobOut:
        resp = jobs_get.sync_detailed(uploaded.accepted.job_id, client=client)
        assert resp.status_code == 200, resp.content
        assert isinstance(resp.parsed, JobOut)
        return resp.parsed

    job = poll(fetch, lambda j: j.status in TERMINAL, what=f"job {uploaded.accepted.job_id}", timeout_s=120)
    assert job.status == JobStatus.SUCCEEDED, (job.status, job.last_error)
    assert job.kind == "image.process"
    assert job.progress == 100
    assert 1 <= job.attempts <= job.max_attempts
    assert job.finished_at is not None
    assert job.result is not None


def test_list_variants_and_download_embedded_sqlite(uploaded: Uploaded, photo_bytes: bytes) -> None:
    client = uploaded.session.client
    original = Image.open(io.BytesIO(photo_bytes))

    def fetch() -> MediaOut:
        resp = media_get.sync_detailed(uploaded.accepted.media_id, client=client)
        assert resp.status_code == 200, resp.content
        assert isinstance(resp.parsed, MediaOut)
        return resp.parsed

    media = poll(fetch, lambda m: m.status != "processing", what=f"media {uploaded.accepted.media_id}", timeout_s=120)
    assert media.status == "ready", media.error
    assert (media.width, media.height) == original.size
    assert media.variants, "a ready media lists its variants"
    names = {v.name for v in media.variants}
    assert len(names) == len(media.variants), names
    for v in media.variants:
        assert v.name == f"{v.preset}.{'jpg' if v.format_ == 'jpeg' else v.format_}", v
        assert v.url.endswith(f"/v1/media/{media.id}/variants/{v.name}"), v.url

    # Every JPEG and WebP variant downloads as an image of the stated size,
    # the original's shape, never upscaled.
    for v in media.variants:
        resp = media_variant_get.sync_detailed(media.id, v.name, client=client)
        assert resp.status_code == 200, (v.name, resp.content[:200])
        assert isinstance(resp.parsed, File)
        data = resp.parsed.payload.read()
        assert len(data) == v.bytes_, v
        assert resp.headers["content-type"] == v.content_type
        img = Image.open(io.BytesIO(data))
        assert img.format == {"jpeg": "JPEG", "webp": "WEBP"}[v.format_], (v.name, img.format)
        assert img.size == (v.width, v.height), v
        assert max(img.size) <= max(original.size)
        assert abs(img.width / img.height - original.width / original.height) < 0.02, (v, original.size)

    # A download carries a strong ETag; presenting it answers 304.
    smallest = min(media.variants, key=lambda v: v.bytes_)
    first = media_variant_get.sync_detailed(media.id, smallest.name, client=client)
    etag = first.headers["etag"]
    assert etag.startswith('"'), etag
    cached = media_variant_get.sync_detailed(media.id, smallest.name, client=client, if_none_match=etag)
    assert cached.status_code == 304, cached.content
