-- Elastic capacity: each cluster's power policy and the hub's ledger of which elastic nodes it let power up.
CREATE TABLE cluster_power_policies (
  cluster_id text PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
  -- the most elastic nodes powered at once; NULL = no limit
  max_powered_nodes integer CHECK (max_powered_nodes IS NULL OR max_powered_nodes >= 0),
  allow_resume boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE node_power (
  cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  node text NOT NULL,
  state text NOT NULL CHECK (state IN ('on', 'off')),
  changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cluster_id, node)
);

-- Every power request an elastic cluster made and what the hub answered, oldest first.
CREATE TABLE power_events (
  id bigserial PRIMARY KEY,
  cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  node text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  action text NOT NULL CHECK (action IN ('resume', 'suspend')),
  granted boolean NOT NULL,
  reason text NOT NULL DEFAULT '',
  requested_by text NOT NULL
);
CREATE INDEX power_events_cluster ON power_events (cluster_id, id);
