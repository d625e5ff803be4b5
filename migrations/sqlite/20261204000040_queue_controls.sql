-- A paused queue: its workers start nothing new until the row is deleted
-- (resume). Enqueueing goes on; the jobs wait in the queue.
CREATE TABLE queue_controls (
    queue      TEXT PRIMARY KEY NOT NULL,
    paused_at  TEXT NOT NULL,
    paused_by  TEXT NOT NULL
);
