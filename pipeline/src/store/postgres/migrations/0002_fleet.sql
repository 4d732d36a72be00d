-- The worker fleet's queue: one row per submitted run and one per node of it. A worker claims
-- ready nodes of any run (FOR UPDATE SKIP LOCKED) under a lease; `claim` is the claim's token and
-- fences every write of a worker that lost its lease.
CREATE TABLE pipeline_fleet_runs (
    run_id text PRIMARY KEY REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    pipeline text NOT NULL,
    fingerprint text NOT NULL,
    -- running | completed | failed | cancelled
    state text NOT NULL DEFAULT 'running',
    -- nodes not yet resolved; the run ends when it reaches 0
    remaining integer NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
);
CREATE SEQUENCE pipeline_fleet_claims;
CREATE TABLE pipeline_fleet_nodes (
    run_id text NOT NULL REFERENCES pipeline_fleet_runs (run_id) ON DELETE CASCADE,
    node integer NOT NULL,
    node_id text NOT NULL,
    fingerprint text NOT NULL,
    -- waiting | ready | running | completed | failed | skipped | not_run
    state text NOT NULL,
    -- upstream nodes not yet resolved
    waiting integer NOT NULL,
    -- an upstream node failed or was skipped: this one is skipped when it is reached
    blocked boolean NOT NULL DEFAULT false,
    fail_fast boolean NOT NULL,
    -- the attempt the next run of the node is (1 + failed attempts so far)
    attempt integer NOT NULL DEFAULT 1,
    -- the fencing token of the current claim, from pipeline_fleet_claims (never reused)
    claim bigint NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL DEFAULT now(),
    worker text,
    lease_expires_at timestamptz,
    error text,
    resolved_at timestamptz,
    PRIMARY KEY (run_id, node)
);
CREATE INDEX pipeline_fleet_nodes_ready ON pipeline_fleet_nodes (not_before)
    WHERE state = 'ready';
CREATE INDEX pipeline_fleet_nodes_leased ON pipeline_fleet_nodes (lease_expires_at)
    WHERE state = 'running';
ALTER TABLE pipeline_audit_entries ADD COLUMN worker text;
-- The workers alive: each announces what it serves when it starts and on every heartbeat, and
-- leaves when it stops, so `runs` can say which runs wait for a worker of their build.
CREATE TABLE pipeline_fleet_workers (
    id text PRIMARY KEY,
    pipelines text[] NOT NULL,
    fingerprints text[] NOT NULL,
    last_seen timestamptz NOT NULL DEFAULT now()
);
