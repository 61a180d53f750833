-- User holds: a held job stays Queued (reason JobHeldUser) and is left out of scheduling until released.
ALTER TABLE jobs ADD COLUMN held_at timestamptz;
