-- Several replicas save a learning policy's state: each save names the version it merged
-- into, and a save over a newer version is refused, so that no replica's updates are lost.
ALTER TABLE policy_state ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
