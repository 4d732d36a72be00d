-- Priorities and fairness on a fleet (engine::rank): each run has a credit in milliseconds, and
-- its ready nodes and items are claimed by `claim_rank`, the time they became ready less their
-- run's credit (the smallest first). A run of priority p has p seconds of credit; a run of a
-- fairness key takes a turn of its key, spaced from the key's others, and has less credit the
-- further ahead its turn is.
--
-- `timestamptz - interval` is only stable (a month or a day is as long as the time zone says);
-- an interval of milliseconds alone is the same in every zone, so this is immutable.
CREATE FUNCTION pipeline_claim_rank(ready timestamptz, credit_ms bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ready - credit_ms * interval '1 millisecond' $$;
ALTER TABLE pipeline_fleet_runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE pipeline_fleet_runs ADD COLUMN credit_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE pipeline_fleet_runs ADD COLUMN fair_key text;
CREATE INDEX pipeline_fleet_runs_by_fair_key ON pipeline_fleet_runs (pipeline, fair_key)
    WHERE fair_key IS NOT NULL AND state IN ('queued', 'running');
ALTER TABLE pipeline_fleet_nodes ADD COLUMN credit_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE pipeline_fleet_nodes ADD COLUMN claim_rank timestamptz
    GENERATED ALWAYS AS (pipeline_claim_rank(not_before, credit_ms)) STORED;
CREATE INDEX pipeline_fleet_nodes_by_rank ON pipeline_fleet_nodes (claim_rank)
    WHERE state = 'ready';
ALTER TABLE pipeline_fleet_items ADD COLUMN credit_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE pipeline_fleet_items ADD COLUMN claim_rank timestamptz
    GENERATED ALWAYS AS (pipeline_claim_rank(not_before, credit_ms)) STORED;
CREATE INDEX pipeline_fleet_items_by_rank ON pipeline_fleet_items (claim_rank)
    WHERE state = 'ready';
-- The last turn of each fairness key (milliseconds since the Unix epoch, by the server's clock).
CREATE TABLE pipeline_fleet_turns (
    pipeline text NOT NULL,
    fair_key text NOT NULL,
    turn_ms bigint NOT NULL,
    PRIMARY KEY (pipeline, fair_key)
);
