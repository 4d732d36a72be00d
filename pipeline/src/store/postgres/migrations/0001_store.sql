-- The checkpointer, the audit log and run summaries. Payloads are the exact JSON bytes the engine
-- wrote (bytea): jsonb would reorder keys, drop duplicates and refuse "\u0000" in strings.
CREATE TABLE pipeline_runs (
    run_id text PRIMARY KEY,
    pipeline text NOT NULL,
    started_at_ms bigint NOT NULL,
    header bytea NOT NULL,
    epoch bigint NOT NULL DEFAULT 1
);
CREATE TABLE pipeline_node_records (
    seq bigserial PRIMARY KEY,
    run_id text NOT NULL REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    node text NOT NULL,
    attempt integer NOT NULL,
    started_at_ms bigint NOT NULL,
    finished_at_ms bigint NOT NULL,
    duration_us bigint NOT NULL,
    output bytea NOT NULL,
    UNIQUE (run_id, node)
);
CREATE INDEX pipeline_node_records_by_run ON pipeline_node_records (run_id, seq);
CREATE TABLE pipeline_audit_runs (
    run_id text PRIMARY KEY,
    header bytea NOT NULL,
    epoch bigint NOT NULL DEFAULT 1
);
CREATE TABLE pipeline_audit_entries (
    seq bigserial PRIMARY KEY,
    run_id text NOT NULL REFERENCES pipeline_audit_runs (run_id) ON DELETE CASCADE,
    node text NOT NULL,
    attempt integer NOT NULL,
    entry bytea NOT NULL
);
CREATE INDEX pipeline_audit_entries_by_run ON pipeline_audit_entries (run_id, seq);
CREATE TABLE pipeline_run_summaries (
    run_id text PRIMARY KEY REFERENCES pipeline_audit_runs (run_id) ON DELETE CASCADE,
    summary bytea NOT NULL
);
