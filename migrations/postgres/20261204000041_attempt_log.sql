-- Every attempt of a job that did not end it, oldest first, as a JSON array
-- of {attempt, started_at, finished_at, outcome, error}: `retried` (failed,
-- retry scheduled), `lost` (its worker stopped renewing it and another took
-- it over), or, written when an operator retries a finished job, the status
-- it had ended in. The current attempt is the row's own columns, so a job
-- that succeeds at once writes nothing more.
ALTER TABLE job_runs ADD COLUMN attempt_log JSONB;
