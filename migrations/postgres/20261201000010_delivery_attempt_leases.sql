-- A delivery in flight belongs to one job attempt until a little after that
-- attempt's deadline (`lease_attempt`, `lease_until`): no other attempt sends
-- it meanwhile, even when a lost worker's job is delivered again. A
-- notification whose lease ran out while `sending` is sent again
-- (at-least-once) or ends `unknown` (`notifications.delivery = at_most_once`).
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check CHECK (status IN
    ('queued','sending','sent','recorded','retrying','failed','dead','skipped','unknown'));
ALTER TABLE notifications ADD COLUMN lease_attempt INTEGER;
ALTER TABLE notifications ADD COLUMN lease_until TIMESTAMPTZ;

ALTER TABLE webhook_deliveries ADD COLUMN lease_attempt INTEGER;
ALTER TABLE webhook_deliveries ADD COLUMN lease_until TIMESTAMPTZ;
