"""Notifications and webhooks through the generated SDK, against embedded `kiln serve`."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kiln_client.api.notifications import notifications_list, notifications_send
from kiln_client.api.webhooks import webhooks_create, webhooks_deliveries, webhooks_test
from kiln_client.models import (
    Channel,
    DeliveryPage,
    DeliveryStatus,
    EventType,
    NotificationIn,
    NotificationPage,
    NotificationsQueued,
    NotificationStatus,
    Template,
    WebhookCreatedOut,
    WebhookIn,
)

# Imported under another name: pytest would take a class named Test… for tests.
from kiln_client.models import WebhookTestQueued
from support import KilnServer, Session, assert_error, poll

NOTIFICATION_DONE = {
    NotificationStatus.SENT,
    NotificationStatus.RECORDED,
    NotificationStatus.FAILED,
    NotificationStatus.DEAD,
    NotificationStatus.SKIPPED,
    NotificationStatus.UNKNOWN,
}


def test_operator_sends_notification_embedded_sqlite(server: KilnServer, operator: Session, session: Session) -> None:
    body = NotificationIn(user_id=session.user.id, channels=[Channel.EMAIL], template=Template.WELCOME)
    key = f"sdk-py-{uuid.uuid4()}"
    resp = notifications_send.sync_detailed(client=operator.client, body=body, idempotency_key=key)
    assert resp.status_code == 202, resp.content
    queued = resp.parsed
    assert isinstance(queued, NotificationsQueued)
    assert len(queued.items) == 1, queued
    delivery = queued.items[0]
    assert delivery.user_id == session.user.id
    assert delivery.channel == Channel.EMAIL.value
    assert delivery.template == Template.WELCOME.value

    # The same key from the same sender answers the first deliveries, with 200.
    again = notifications_send.sync_detailed(client=operator.client, body=body, idempotency_key=key)
    assert again.status_code == 200, again.content
    assert isinstance(again.parsed, NotificationsQueued)
    assert [d.id for d in again.parsed.items] == [delivery.id]

    # The recipient's history shows it delivered: without SMTP, written to the outbox.
    def fetch() -> NotificationPage:
        page = notifications_list.sync_detailed(client=session.client)
        assert page.status_code == 200, page.content
        assert isinstance(page.parsed, NotificationPage)
        return page.parsed

    history = poll(
        fetch,
        lambda p: any(n.id == delivery.id and n.status in NOTIFICATION_DONE for n in p.items),
        what=f"notification {delivery.id}",
    )
    mine = next(n for n in history.items if n.id == delivery.id)
    assert mine.status == NotificationStatus.RECORDED, (mine.status, mine.error)

    outbox = server.data_dir / "outbox"
    mails = [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in outbox.glob("*.eml")]
    to_recipient = [m for m in mails if session.email in str(m["To"])]
    assert len(to_recipient) == 1, [str(m["To"]) for m in mails]
    assert to_recipient[0]["Subject"], "the welcome mail has a subject"


def test_user_may_not_send_notification_embedded_sqlite(session: Session) -> None:
    body = NotificationIn(user_id=session.user.id, channels=[Channel.EMAIL], template=Template.WELCOME)
    resp = notifications_send.sync_detailed(client=session.client, body=body)
    assert_error(resp, 403, "forbidden")


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP server that answers 204 to every POST and records it."""
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            got.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(url=f"http://127.0.0.1:{httpd.server_address[1]}/kiln-hook", requests=got)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_webhook_endpoint_delivery_log_embedded_sqlite(session: Session, receiver: Receiver) -> None:
    created = webhooks_create.sync_detailed(
        client=session.client,
        body=WebhookIn(url=receiver.url, events=[EventType.MEDIA_READY], description="sdk-py test receiver"),
    )
    assert created.status_code == 201, created.content
    endpoint = created.parsed
    assert isinstance(endpoint, WebhookCreatedOut)
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.enabled
    assert list(endpoint.events) == [EventType.MEDIA_READY.value]

    test = webhooks_test.sync_detailed(endpoint.id, client=session.client)
    assert test.status_code == 202, test.content
    assert isinstance(test.parsed, WebhookTestQueued), test.parsed
    delivery_id = test.parsed.delivery_id

    def fetch() -> DeliveryPage:
        page = webhooks_deliveries.sync_detailed(endpoint.id, client=session.client)
        assert page.status_code == 200, page.content
        assert isinstance(page.parsed, DeliveryPage)
        return page.parsed

    log = poll(
        fetch,
        lambda p: any(d.id == delivery_id and d.status != DeliveryStatus.PENDING for d in p.items),
        what=f"webhook delivery {delivery_id}",
    )
    delivery = next(d for d in log.items if d.id == delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED, (delivery.status, delivery.error)
    assert delivery.event_type == "webhook.test"
    assert delivery.response_status == 204
    assert delivery.attempts >= 1
    assert delivery.delivered_at is not None

    # The receiver got it, under the delivery's message id, with the logged payload.
    hits = [(h, b) for h, b in receiver.requests if h.get("webhook-id") == delivery.message_id]
    assert len(hits) >= 1, [h for h, _ in receiver.requests]
    headers, raw = hits[0]
    assert headers.get("webhook-signature"), headers
    assert json.loads(raw) == delivery.payload
