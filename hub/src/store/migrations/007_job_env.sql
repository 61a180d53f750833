-- A job's environment and secrets, apart from its spec (which every project viewer reads): one sealed JSON
-- document {env, secrets} per job, AES-256-GCM under the hub's secrets key (hub/src/store/sealed.ts), opened
-- only to dispatch the job and to show its environment to the job's owner and hub administrators.
-- key_id names the key that sealed the row, so keys can be rotated (meridian admin reseal).
CREATE TABLE job_env (
  job_id bigint PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  key_id text NOT NULL,
  sealed bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  resealed_at timestamptz
);

CREATE INDEX job_env_key_id ON job_env (key_id);

-- Jobs stored before this table kept env in jobs.spec and in their outbox dispatch commands. SQL cannot seal
-- (the key is not in the database), so this migration only lists them; the hub seals and strips them at
-- startup, before it serves (store/repos/job-env.ts sealLegacyEnv), so no plaintext outlives its first start.
CREATE TABLE job_env_unsealed (job_id bigint PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE);
INSERT INTO job_env_unsealed (job_id) SELECT id FROM jobs WHERE spec->'workload' ?| array['env', 'secrets'];
