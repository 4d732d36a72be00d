-- The result cache (`#[node(cache)]`): one row per key, inserted whole in one statement; the first
-- to store a key keeps it. `entry` is the key's parts as JSON, `output` the cached output's JSON.
CREATE TABLE pipeline_cache_entries (
    id bigint GENERATED ALWAYS AS IDENTITY,
    key text PRIMARY KEY,
    owner text NOT NULL,
    pipeline text NOT NULL,
    created_at_ms bigint NOT NULL,
    entry bytea NOT NULL,
    output bytea NOT NULL
);
CREATE INDEX pipeline_cache_entries_by_owner ON pipeline_cache_entries (owner, created_at_ms);
