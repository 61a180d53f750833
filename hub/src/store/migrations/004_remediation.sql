-- GPU-fault remediation: per-node event log (every remediation step, GPU health changes) and the per-cluster
-- circuit breaker state that the quarantine activity reads and writes under a row lock.
CREATE TABLE node_events (
  id bigserial PRIMARY KEY,
  cluster_id text NOT NULL,
  node text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  type text NOT NULL,
  message text NOT NULL DEFAULT '',
  data jsonb
);
CREATE INDEX node_events_node ON node_events (cluster_id, node, id);

CREATE TABLE remediation_breakers (
  cluster_id text PRIMARY KEY,
  quarantined text[] NOT NULL DEFAULT '{}',
  -- start times (ms since the epoch) of recent quarantines, for the flood trip
  recent bigint[] NOT NULL DEFAULT '{}',
  tripped_at bigint,
  updated_at timestamptz NOT NULL DEFAULT now()
);
