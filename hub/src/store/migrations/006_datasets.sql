-- Data locality: the datasets jobs name, where each one lives, and which clusters hold a warm cache copy.
CREATE TABLE datasets (
  name text PRIMARY KEY,
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  home_region text NOT NULL,
  -- the cluster holding the original copy, if it is one of ours; NULL = outside storage in home_region
  home_cluster text REFERENCES clusters(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (dataset, cluster) the hub knows about: cached, being copied (with progress), or a failed copy.
CREATE TABLE dataset_caches (
  dataset text NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
  cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  state text NOT NULL CHECK (state IN ('cached', 'prewarming', 'failed')),
  percent real NOT NULL DEFAULT 0 CHECK (percent >= 0 AND percent <= 100),
  reason text,
  -- the outbox command that started the copy (its result says when the cluster refused it)
  command_seq bigint,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dataset, cluster_id)
);
CREATE INDEX dataset_caches_cluster ON dataset_caches (cluster_id);
