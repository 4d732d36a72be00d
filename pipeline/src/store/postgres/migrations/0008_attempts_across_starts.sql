-- Attempt numbers go on across the starts of a run, as in one process: a run reopened after a
-- node's attempts 1 and 2 failed numbers its next attempt 3. `attempts_before` is the last
-- attempt number of the run's earlier starts (by its audit trail), which the retry budget of
-- this start does not count; a mapped node keeps its items' in `item_attempts_before`, by item
-- index from 1, until its map opens and gives each item its own.
ALTER TABLE pipeline_fleet_nodes ADD COLUMN attempts_before integer NOT NULL DEFAULT 0;
ALTER TABLE pipeline_fleet_nodes ADD COLUMN item_attempts_before integer[];
ALTER TABLE pipeline_fleet_items ADD COLUMN attempts_before integer NOT NULL DEFAULT 0;
