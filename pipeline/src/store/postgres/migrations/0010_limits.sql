-- Per-key run limits on a fleet: a run of a pipeline that limits its runs per key carries its key
-- and limit. A run over the limit is submitted `queued`, its ready rows not claimable (their
-- `not_before` is infinity) until a run of its key ends and admits it, oldest first.
ALTER TABLE pipeline_fleet_runs ADD COLUMN limit_key text;
ALTER TABLE pipeline_fleet_runs ADD COLUMN limit_runs integer;
CREATE INDEX pipeline_fleet_runs_by_key ON pipeline_fleet_runs (pipeline, limit_key, submitted_at)
    WHERE limit_key IS NOT NULL;
-- Node rates: when the next execution of a rated node of a pipeline may start. A worker that
-- claims executions of the node reserves their start times (each one interval after the last)
-- and starts each at its time.
CREATE TABLE pipeline_fleet_rates (
    pipeline text NOT NULL,
    node_id text NOT NULL,
    next_at timestamptz NOT NULL,
    PRIMARY KEY (pipeline, node_id)
);
