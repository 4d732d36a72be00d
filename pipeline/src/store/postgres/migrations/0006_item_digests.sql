-- The canonical digest of the item an item record was computed from: a resume reuses the record
-- only for an item with the same digest. NULL for an ordinary node's record.
ALTER TABLE pipeline_node_records ADD COLUMN item_digest text;
