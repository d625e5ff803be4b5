-- The W3C `traceparent` of the span that enqueued the job (a request, or
-- the attempt of another job), so that each attempt's span continues the
-- enqueuer's trace. NULL when nothing was traced.
ALTER TABLE job_runs ADD COLUMN traceparent TEXT;
