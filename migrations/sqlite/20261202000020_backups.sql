-- Backup schedules (operator-defined) and the backups they and operators make.
CREATE TABLE backup_schedules (
    id               BLOB PRIMARY KEY NOT NULL,                  -- UUIDv7
    name             TEXT NOT NULL,
    cron             TEXT NOT NULL,                     -- five fields, or six with seconds first
    timezone         TEXT NOT NULL,                     -- IANA name, e.g. Europe/Berlin
    keep_daily       INTEGER NOT NULL CHECK (keep_daily >= 0),
    keep_weekly      INTEGER NOT NULL CHECK (keep_weekly >= 0),
    keep_monthly     INTEGER NOT NULL CHECK (keep_monthly >= 0),
    encrypted        INTEGER NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    last_tick_at     TEXT,                       -- the latest tick a scheduler enqueued
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- One row per backup: made by `backup.run`, checked by `backup.verify`,
-- removed by `backup.prune` or DELETE /v1/backups/{id}.
CREATE TABLE backups (
    id               BLOB PRIMARY KEY NOT NULL,                  -- UUIDv7
    trigger          TEXT NOT NULL CHECK (trigger IN ('manual','schedule')),
    schedule_id      BLOB REFERENCES backup_schedules (id) ON DELETE SET NULL,
    job_id           BLOB,                              -- the backup.run job
    requested_by     TEXT NOT NULL,                     -- user id, or `system`
    status           TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed')),
    database_kind    TEXT NOT NULL CHECK (database_kind IN ('postgres','sqlite')),
    encrypted        INTEGER NOT NULL,
    keep             INTEGER NOT NULL DEFAULT 1,     -- manual backups: kept until deleted
    location         TEXT,                              -- the object key of the dump
    size_bytes       INTEGER,                            -- stored bytes
    source_bytes     INTEGER,                            -- bytes of the dump before compression
    sha256           TEXT,                              -- hex SHA-256 of the stored bytes
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    verify_status    TEXT CHECK (verify_status IN ('passed','failed','checksum_only')),
    verify_error     TEXT,
    verified_at      TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    updated_at       TEXT NOT NULL
);
CREATE INDEX backups_schedule ON backups (schedule_id, id);
CREATE INDEX backups_status ON backups (status, id);
