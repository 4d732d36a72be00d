-- Nodes mapped over a list (`each`): one record per completed item. `item` is the item's index
-- (-1 for a node's whole output), `items` how many items the map has (NULL for a whole output).
ALTER TABLE pipeline_node_records ADD COLUMN item integer NOT NULL DEFAULT -1;
ALTER TABLE pipeline_node_records ADD COLUMN items integer;
ALTER TABLE pipeline_node_records DROP CONSTRAINT pipeline_node_records_run_id_node_key;
ALTER TABLE pipeline_node_records
    ADD CONSTRAINT pipeline_node_records_run_id_node_item_key UNIQUE (run_id, node, item);
