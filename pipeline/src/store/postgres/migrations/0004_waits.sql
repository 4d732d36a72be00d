-- A run's waits: the signals sent to it (stored before anything else happens with them) and what
-- it waits on while suspended, as the JSON of `RunWaits`. Changed in transactions holding the
-- run's advisory transaction lock, so concurrent senders never lose each other's signals.
CREATE TABLE pipeline_run_waits (
    run_id text PRIMARY KEY REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    waits bytea NOT NULL
);
