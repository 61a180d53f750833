-- Archiving: a project or a cluster is never deleted (its jobs, usage and audit history stay), only archived.
ALTER TABLE projects ADD COLUMN archived_at timestamptz;
ALTER TABLE clusters ADD COLUMN archived_at timestamptz;

-- No job enters an archived project, whatever path inserts it. FOR KEY SHARE (the lock the foreign key takes
-- anyway) waits for an archive in flight, which holds the project row FOR UPDATE: a submit racing an archive
-- either lands first, and the archive then counts it as live, or sees the project archived.
CREATE FUNCTION refuse_archived_project() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE archived timestamptz;
BEGIN
  -- lock first, then read: the locked row is the committed one, archived_at included
  SELECT archived_at INTO archived FROM projects WHERE name = NEW.project FOR KEY SHARE;
  IF archived IS NOT NULL THEN
    RAISE EXCEPTION 'project % is archived', NEW.project USING ERRCODE = '55000';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER jobs_refuse_archived_project BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_archived_project();
