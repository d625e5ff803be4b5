-- Devices (FCM registration tokens), the notification history, webhook
-- endpoints and their delivery log.
CREATE TABLE devices (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token           TEXT NOT NULL,                      -- FCM registration token
    platform        TEXT NOT NULL CHECK (platform IN ('android','ios','web')),
    app_version     TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,      -- false once FCM says UNREGISTERED
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- A token names one app install: registering it again moves it to the caller.
CREATE UNIQUE INDEX devices_token ON devices (token);
CREATE INDEX devices_user ON devices (user_id, id);

-- One row per delivery (one email, or one push to one device), updated as its
-- job's attempts go: queued, sending, sent | recorded | retrying | failed | dead | skipped.
CREATE TABLE notifications (
    id                  UUID PRIMARY KEY,               -- UUIDv7
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel             TEXT NOT NULL CHECK (channel IN ('email','push')),
    template            TEXT NOT NULL,
    device_id           UUID REFERENCES devices (id) ON DELETE SET NULL,
    job_id              UUID,                           -- the email.send / push.send job
    requested_by        TEXT NOT NULL,                  -- user id of the sender, or `system`
    idempotency_key     TEXT,                           -- the request's Idempotency-Key
    status              TEXT NOT NULL CHECK (status IN
                        ('queued','sending','sent','recorded','retrying','failed','dead','skipped')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    provider_message_id TEXT,                           -- SMTP Message-ID or FCM message name
    error               TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    sent_at             TIMESTAMPTZ
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_job ON notifications (job_id);
CREATE INDEX notifications_request ON notifications (user_id, requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE webhooks (
    id                   UUID PRIMARY KEY,
    user_id              UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                  TEXT NOT NULL,
    description          TEXT,
    events               TEXT NOT NULL,                 -- space-separated event types
    secret               TEXT NOT NULL,                 -- whsec_…: signing needs it in the clear
    previous_secret      TEXT,                          -- during a rotation: also signed with, until
    previous_secret_expires_at TIMESTAMPTZ,
    enabled              BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason      TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,    -- failed attempts since the last success
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_user ON webhooks (user_id, id);

-- One row per event sent to one endpoint; `id` is also the `webhook-id` header.
CREATE TABLE webhook_deliveries (
    id              UUID PRIMARY KEY,                   -- UUIDv7; header `msg_<id without dashes>`
    webhook_id      UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,                      -- the exact JSON body signed and sent
    job_id          UUID,                               -- the webhook.deliver job
    status          TEXT NOT NULL CHECK (status IN
                    ('pending','delivered','retrying','failed','dead','skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    response_status INTEGER,
    response_body   TEXT,
    error           TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);
