-- Live worker processes: each upserts its row every few seconds and deletes
-- it when it stops; a row whose heartbeat is old is a process that died
-- (rows older than ten minutes are removed by the next heartbeat of any).
-- Not `workers`: apalis-sqlite has a `Workers` table, and SQLite names
-- ignore case.
CREATE TABLE worker_processes (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    version       TEXT NOT NULL,
    queues        JSONB NOT NULL,              -- array of queue names
    concurrency   INTEGER NOT NULL,            -- summed over its queues
    in_flight     INTEGER NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    heartbeat_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX worker_processes_heartbeat ON worker_processes (heartbeat_at);
