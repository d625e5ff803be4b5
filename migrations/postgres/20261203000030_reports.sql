-- Content reports: what users report (reports), grouped by what they report
-- (report_targets), every moderator change (report_actions), and the
-- moderation state of media.

-- Media can be shown to every signed-in user (`public`) or only its owner;
-- a moderator can hide it, which stops its variants for everyone but
-- moderators and admins.
ALTER TABLE media ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private'
    CHECK (visibility IN ('private','public'));
ALTER TABLE media ADD COLUMN hidden_at TIMESTAMPTZ;
ALTER TABLE media ADD COLUMN hidden_reason TEXT;           -- the reason class shown to the owner

-- One row per thing reported. Triage keeps its priority; every report on it
-- carries a copy so the moderator list pages in index order.
CREATE TABLE report_targets (
    id                UUID PRIMARY KEY,                 -- UUIDv7
    target_type       TEXT NOT NULL CHECK (target_type IN ('media','user','external')),
    target_id         TEXT NOT NULL,
    target_owner      TEXT,                             -- media owner, or the reported user
    priority          DOUBLE PRECISION NOT NULL DEFAULT 0,
    escalated_at      TIMESTAMPTZ,                      -- priority crossed the threshold (cleared when no report is open)
    first_reported_at TIMESTAMPTZ NOT NULL,
    last_reported_at  TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX report_targets_target ON report_targets (target_type, target_id);

CREATE TABLE reports (
    id               UUID PRIMARY KEY,                  -- UUIDv7
    target_ref       UUID NOT NULL REFERENCES report_targets (id),
    target_type      TEXT NOT NULL CHECK (target_type IN ('media','user','external')),
    target_id        TEXT NOT NULL,
    reporter_id      UUID NOT NULL,
    reporter_new     BOOLEAN NOT NULL,                  -- account younger than a day when it reported
    reason           TEXT NOT NULL CHECK (reason IN ('spam','harassment','hate','violence','sexual',
                         'self_harm','illegal','copyright','impersonation','other')),
    details          TEXT,
    status           TEXT NOT NULL CHECK (status IN ('open','reviewing','resolved','dismissed')),
    priority         DOUBLE PRECISION NOT NULL DEFAULT 0, -- the target's, copied by triage
    target_first_at  TIMESTAMPTZ NOT NULL,              -- the target's first report (the age sort)
    action           TEXT CHECK (action IN ('none','hide_media','restore_media','delete_media','disable_user')),
    note             TEXT,                              -- the moderator's private note
    reviewed_by      TEXT,
    triage_job_id    UUID,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    closed_at        TIMESTAMPTZ
);
-- One open report per reporter and target.
CREATE UNIQUE INDEX reports_open_per_reporter ON reports (reporter_id, target_ref)
    WHERE status IN ('open','reviewing');
-- The reporter's own list and the hourly limit.
CREATE INDEX reports_reporter ON reports (reporter_id, id);
-- Triage and the target's other reports.
CREATE INDEX reports_target_ref ON reports (target_ref, status, id);
CREATE INDEX reports_target ON reports (target_id, target_type, id);
-- The moderator list: each filter with each sort (priority, read backwards; age),
-- grouped by target.
CREATE INDEX reports_by_priority ON reports (priority, target_ref, id);
CREATE INDEX reports_by_age ON reports (target_first_at, target_ref, id);
CREATE INDEX reports_status_priority ON reports (status, priority, target_ref, id);
CREATE INDEX reports_status_age ON reports (status, target_first_at, target_ref, id);
CREATE INDEX reports_reason_priority ON reports (reason, priority, target_ref, id);
CREATE INDEX reports_reason_age ON reports (reason, target_first_at, target_ref, id);
CREATE INDEX reports_type_priority ON reports (target_type, priority, target_ref, id);
CREATE INDEX reports_type_age ON reports (target_type, target_first_at, target_ref, id);
CREATE INDEX reports_created ON reports (created_at, id);

-- The audit trail of every moderator change, written with the change.
CREATE TABLE report_actions (
    id               UUID PRIMARY KEY,                  -- UUIDv7
    report_id        UUID NOT NULL REFERENCES reports (id),
    actor            TEXT NOT NULL,                     -- user id, or `system` for triage
    from_status      TEXT NOT NULL,
    to_status        TEXT NOT NULL,
    action           TEXT NOT NULL,
    note             TEXT,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX report_actions_report ON report_actions (report_id, id);
