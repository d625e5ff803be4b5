-- The job ledger: the durable truth about every job (the queue is transport).
CREATE TABLE job_runs (
    id              UUID PRIMARY KEY,                   -- UUIDv7
    kind            TEXT NOT NULL,
    queue           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','dead','cancelled')),
    owner           TEXT NOT NULL,
    idempotency_key TEXT,
    payload         JSONB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    progress        INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    result          JSONB,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    delivery_id     UUID,                               -- the queue message allowed to run it
    next_run_at     TIMESTAMPTZ
);
CREATE UNIQUE INDEX job_runs_owner_idempotency_key ON job_runs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX job_runs_owner_id ON job_runs (owner, id);
CREATE INDEX job_runs_status ON job_runs (status, id);

CREATE TABLE media (
    id              UUID PRIMARY KEY,                   -- UUIDv7
    owner           TEXT NOT NULL,
    job_id          UUID NOT NULL REFERENCES job_runs (id),
    status          TEXT NOT NULL CHECK (status IN ('processing','ready','failed')),
    filename        TEXT,
    source_format   TEXT NOT NULL,
    source_bytes    BIGINT NOT NULL,
    width           INTEGER,
    height          INTEGER,
    blurhash        TEXT,
    dominant_color  TEXT,
    variants        JSONB NOT NULL DEFAULT '[]',
    error           TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX media_owner_id ON media (owner, id);
