-- Jobs that ended per queue and minute (unix time / 60), summed over every
-- worker process: each adds what it finished every few seconds. The console
-- draws the last hour from it; rows older than a day are deleted.
CREATE TABLE queue_throughput (
    queue TEXT NOT NULL,
    minute INTEGER NOT NULL,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, minute)
);
