-- Backup schedules (operator-defined) and the backups they and operators make.
CREATE TABLE backup_schedules (
    id               UUID PRIMARY KEY,                  -- UUIDv7
    name             TEXT NOT NULL,
    cron             TEXT NOT NULL,                     -- five fields, or six with seconds first
    timezone         TEXT NOT NULL,                     -- IANA name, e.g. Europe/Berlin
    keep_daily       INTEGER NOT NULL CHECK (keep_daily >= 0),
    keep_weekly      INTEGER NOT NULL CHECK (keep_weekly >= 0),
    keep_monthly     INTEGER NOT NULL CHECK (keep_monthly >= 0),
    encrypted        BOOLEAN NOT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    last_tick_at     TIMESTAMPTZ,                       -- the latest tick a scheduler enqueued
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- One row per backup: made by `backup.run`, checked by `backup.verify`,
-- removed by `backup.prune` or DELETE /v1/backups/{id}.
CREATE TABLE backups (
    id               UUID PRIMARY KEY,                  -- UUIDv7
    trigger          TEXT NOT NULL CHECK (trigger IN ('manual','schedule')),
    schedule_id      UUID REFERENCES backup_schedules (id) ON DELETE SET NULL,
    job_id           UUID,                              -- the backup.run job
    requested_by     TEXT NOT NULL,                     -- user id, or `system`
    status           TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed')),
    database_kind    TEXT NOT NULL CHECK (database_kind IN ('postgres','sqlite')),
    encrypted        BOOLEAN NOT NULL,
    keep             BOOLEAN NOT NULL DEFAULT TRUE,     -- manual backups: kept until deleted
    location         TEXT,                              -- the object key of the dump
    size_bytes       BIGINT,                            -- stored bytes
    source_bytes     BIGINT,                            -- bytes of the dump before compression
    sha256           TEXT,                              -- hex SHA-256 of the stored bytes
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    verify_status    TEXT CHECK (verify_status IN ('passed','failed','checksum_only')),
    verify_error     TEXT,
    verified_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX backups_schedule ON backups (schedule_id, id);
CREATE INDEX backups_status ON backups (status, id);
