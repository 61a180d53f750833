-- The command seq counter moves to its own row so allocating a command seq (dispatch, cancel) does not contend
-- with storing agent events (agent_streams.stored_event_seq) for the same row lock.
CREATE TABLE agent_command_counters (
  cluster_id text PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
  next_seq bigint NOT NULL DEFAULT 0
);
INSERT INTO agent_command_counters (cluster_id, next_seq) SELECT cluster_id, next_command_seq FROM agent_streams;
