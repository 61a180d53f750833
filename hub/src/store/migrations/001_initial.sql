-- Meridian hub schema, version 1.
CREATE TABLE projects (
  name text PRIMARY KEY,
  weight double precision NOT NULL DEFAULT 1 CHECK (weight > 0),
  quota jsonb,
  budget jsonb,
  price_overrides jsonb NOT NULL DEFAULT '{}',
  policy text,
  weights jsonb,
  max_pending integer,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  email text,
  is_admin boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_members (
  project text NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
  PRIMARY KEY (project, user_id)
);

-- Tokens are stored as SHA-256 hashes; the plain token is shown once.
CREATE TABLE api_tokens (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL DEFAULT '',
  token_hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  expires_at timestamptz,
  revoked_at timestamptz
);

CREATE TABLE clusters (
  id text PRIMARY KEY,
  region text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('kubernetes', 'slurm')),
  prices jsonb NOT NULL DEFAULT '{}',
  links jsonb NOT NULL DEFAULT '[]',
  credential_hash text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'connected', 'disconnected', 'lost')),
  last_seen_at timestamptz,
  agent_version text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE nodes (
  cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  name text NOT NULL,
  info jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cluster_id, name)
);

CREATE SEQUENCE job_id_seq START 1;

CREATE TABLE jobs (
  id bigint PRIMARY KEY DEFAULT nextval('job_id_seq'),
  name text NOT NULL,
  project text NOT NULL REFERENCES projects(name),
  user_id bigint REFERENCES users(id),
  tier text NOT NULL,
  priority integer NOT NULL DEFAULT 0,
  spec jsonb NOT NULL,
  state text NOT NULL DEFAULT 'Queued'
    CHECK (state IN ('Queued', 'Placed', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled')),
  attempt integer NOT NULL DEFAULT 1,
  cluster_id text,
  gpu_model text,
  placement jsonb,
  estimated_usd double precision,
  reason text,
  reason_code text,
  eta_sec integer,
  exit_code integer,
  agent_phase text,
  agent_attempt integer,
  agent_reason text,
  cluster_job_id text,
  cancel_requested_at timestamptz,
  requeue_reason text,
  requeue_attempt integer,
  submitted_at timestamptz NOT NULL DEFAULT now(),
  placed_at timestamptz,
  dispatched_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  workflow_started_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_active ON jobs (state, tier, project) WHERE state NOT IN ('Succeeded', 'Failed', 'Cancelled');
CREATE INDEX jobs_project ON jobs (project, id);
CREATE INDEX jobs_no_workflow ON jobs (id) WHERE workflow_started_at IS NULL;

CREATE TABLE job_events (
  id bigserial PRIMARY KEY,
  job_id bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  at timestamptz NOT NULL DEFAULT now(),
  type text NOT NULL,
  state text,
  attempt integer,
  message text NOT NULL DEFAULT '',
  data jsonb
);
CREATE INDEX job_events_job ON job_events (job_id, id);

-- One usage record per job attempt that ran: billing is exactly once by construction.
CREATE TABLE usage_records (
  id bigserial PRIMARY KEY,
  job_id bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  project text NOT NULL,
  cluster_id text,
  gpu_model text,
  gpus double precision NOT NULL,
  gpu_hours double precision NOT NULL,
  usd double precision NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (job_id, attempt)
);
CREATE INDEX usage_project ON usage_records (project);

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL DEFAULT '',
  detail jsonb
);

-- Agent stream state per cluster: last stored agent event seq and the hub command counter.
CREATE TABLE agent_streams (
  cluster_id text PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
  stored_event_seq bigint NOT NULL DEFAULT 0,
  next_command_seq bigint NOT NULL DEFAULT 0,
  acked_command_seq bigint NOT NULL DEFAULT 0
);

-- The command outbox: every hub → agent command, numbered per cluster, kept until (and after) acked.
CREATE TABLE agent_commands (
  cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  kind text NOT NULL,
  job_id bigint,
  attempt integer,
  command jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  acked_at timestamptz,
  result jsonb,
  result_at timestamptz,
  PRIMARY KEY (cluster_id, seq)
);
-- A job attempt is dispatched (and cancelled) at most once.
CREATE UNIQUE INDEX agent_commands_once ON agent_commands (job_id, attempt, kind) WHERE kind IN ('dispatch', 'cancel');

-- Agent events as stored (before the ack), for audit and replay.
CREATE TABLE agent_events (
  cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  type text NOT NULL,
  event jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cluster_id, seq)
);
