-- Nodes mapped over a list (`each`) on a fleet: each item is a unit a worker claims under a lease
-- of its own, as a node row is. A mapped node's row is claimed once, to check its gate and
-- measure its list ("open" it): then its row stays `running` without a lease, `items` says how
-- many items the list has and `items_left` how many have not ended (pending, ready or running).
-- At most the node's `max_in_flight` items are `ready` or `running` at once (its window): the
-- rest are `pending`, and each item that ends lets the next one in. The map resolves when
-- `items_left` reaches 0.
CREATE TABLE pipeline_fleet_items (
    run_id text NOT NULL,
    node integer NOT NULL,
    item integer NOT NULL,
    fingerprint text NOT NULL,
    -- pending | ready | running | completed | failed | not_run
    state text NOT NULL,
    -- the attempt the next run of the item is (1 + failed attempts so far)
    attempt integer NOT NULL DEFAULT 1,
    claim bigint NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL DEFAULT now(),
    worker text,
    lease_expires_at timestamptz,
    error text,
    PRIMARY KEY (run_id, node, item),
    FOREIGN KEY (run_id, node) REFERENCES pipeline_fleet_nodes (run_id, node) ON DELETE CASCADE
);
CREATE INDEX pipeline_fleet_items_ready ON pipeline_fleet_items (not_before)
    WHERE state = 'ready';
CREATE INDEX pipeline_fleet_items_leased ON pipeline_fleet_items (lease_expires_at)
    WHERE state = 'running';
ALTER TABLE pipeline_fleet_nodes ADD COLUMN items integer;
ALTER TABLE pipeline_fleet_nodes ADD COLUMN items_left integer;
-- When a map opened (for its duration) or a wait began (what a waiting run says of it).
ALTER TABLE pipeline_fleet_nodes ADD COLUMN started_at timestamptz;
-- The next pending items of a map, in item order.
CREATE INDEX pipeline_fleet_items_pending ON pipeline_fleet_items (run_id, node, item)
    WHERE state = 'pending';
