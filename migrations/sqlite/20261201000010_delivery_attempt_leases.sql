-- A delivery in flight belongs to one job attempt until a little after that
-- attempt's deadline (`lease_attempt`, `lease_until`): no other attempt sends
-- it meanwhile, even when a lost worker's job is delivered again. A
-- notification whose lease ran out while `sending` is sent again
-- (at-least-once) or ends `unknown` (`notifications.delivery = at_most_once`).
--
-- SQLite cannot change a CHECK constraint in place: the notifications table is
-- rebuilt (nothing references it) with the new status and its indexes.
CREATE TABLE notifications_new (
    id                  BLOB PRIMARY KEY NOT NULL,               -- UUIDv7
    user_id             BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel             TEXT NOT NULL CHECK (channel IN ('email','push')),
    template            TEXT NOT NULL,
    device_id           BLOB REFERENCES devices (id) ON DELETE SET NULL,
    job_id              BLOB,                           -- the email.send / push.send job
    requested_by        TEXT NOT NULL,                  -- user id of the sender, or `system`
    idempotency_key     TEXT,                           -- the request's Idempotency-Key
    status              TEXT NOT NULL CHECK (status IN
                        ('queued','sending','sent','recorded','retrying','failed','dead','skipped','unknown')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    provider_message_id TEXT,                           -- SMTP Message-ID or FCM message name
    error               TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    sent_at             TEXT,
    lease_attempt       INTEGER,                        -- the job attempt sending it
    lease_until         TEXT                            -- until when that attempt holds it
);
INSERT INTO notifications_new (id, user_id, channel, template, device_id, job_id, requested_by,
    idempotency_key, status, attempts, provider_message_id, error, created_at, updated_at, sent_at)
SELECT id, user_id, channel, template, device_id, job_id, requested_by,
    idempotency_key, status, attempts, provider_message_id, error, created_at, updated_at, sent_at
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_job ON notifications (job_id);
CREATE INDEX notifications_request ON notifications (user_id, requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

ALTER TABLE webhook_deliveries ADD COLUMN lease_attempt INTEGER;
ALTER TABLE webhook_deliveries ADD COLUMN lease_until TEXT;
