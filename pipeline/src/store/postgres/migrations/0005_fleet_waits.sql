-- Waits on a fleet. A wait's node row is claimed twice: first when its upstream nodes resolve
-- (the worker checks its gate and begins it: `began`, and `not_before` set to when it is due, a
-- timer's time or a signal's timeout, 'infinity' without one), then when it is due or signalled
-- (the worker completes it with the signal's payload or `()`, or fails it with a timeout). A
-- signal sets `signalled` in the transaction that stores it, and a begun wait is due at once.
ALTER TABLE pipeline_fleet_nodes ADD COLUMN began boolean NOT NULL DEFAULT false;
ALTER TABLE pipeline_fleet_nodes ADD COLUMN signalled boolean NOT NULL DEFAULT false;
