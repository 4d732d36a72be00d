-- Idempotency keys: a pipeline's key claimed for one run until it expires. A claim of a key whose
-- row has not expired gets that row's run; one of an expired key replaces it.
CREATE TABLE pipeline_idempotency_keys (
    pipeline text NOT NULL,
    key text NOT NULL,
    run_id text NOT NULL,
    expires_at_ms bigint NOT NULL,
    PRIMARY KEY (pipeline, key)
);
