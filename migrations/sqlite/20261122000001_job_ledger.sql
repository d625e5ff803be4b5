-- The job ledger: the durable truth about every job (the queue is transport).
CREATE TABLE job_runs (
    id              BLOB PRIMARY KEY NOT NULL,          -- UUIDv7
    kind            TEXT NOT NULL,
    queue           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','dead','cancelled')),
    owner           TEXT NOT NULL,
    idempotency_key TEXT,
    payload         TEXT NOT NULL,                      -- JSON
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    progress        INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    result          TEXT,                               -- JSON
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    delivery_id     BLOB,                               -- the queue message allowed to run it
    next_run_at     TEXT
);
CREATE UNIQUE INDEX job_runs_owner_idempotency_key ON job_runs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX job_runs_owner_id ON job_runs (owner, id);
CREATE INDEX job_runs_status ON job_runs (status, id);

CREATE TABLE media (
    id              BLOB PRIMARY KEY NOT NULL,          -- UUIDv7
    owner           TEXT NOT NULL,
    job_id          BLOB NOT NULL REFERENCES job_runs (id),
    status          TEXT NOT NULL CHECK (status IN ('processing','ready','failed')),
    filename        TEXT,
    source_format   TEXT NOT NULL,
    source_bytes    INTEGER NOT NULL,
    width           INTEGER,
    height          INTEGER,
    blurhash        TEXT,
    dominant_color  TEXT,
    variants        TEXT NOT NULL DEFAULT '[]',         -- JSON array
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX media_owner_id ON media (owner, id);
