// Ids and seqs are bigints the hub hands out as text; every list must come back in numeric order and page
// without skipping (a text sort puts "10" before "9": the agent would apply command 10 first and then drop 9 as
// already applied). Real Postgres, real migrations.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEngine } from '../harness/postgres.ts';
import { parseJobSpec } from '@meridian/protocol/job-spec';
import { migrate } from '@meridian/hub/store/migrate';
import { enqueueCommand, pendingCommands } from '@meridian/hub/store/repos/agent-stream';
import { audit, listAudit } from '@meridian/hub/store/repos/audit';
import { createCluster } from '@meridian/hub/store/repos/clusters';
import { addEvent, insertJob, listEvents } from '@meridian/hub/store/repos/jobs';
import { createProject } from '@meridian/hub/store/repos/projects';
import { generateSecretsKey, Keyring } from '@meridian/hub/store/sealed';

describe('store lists come back in numeric id order past 9', () => {
  const keyring = new Keyring(generateSecretsKey());
  let engine: PostgresEngine;
  let db: pg.Pool;

  beforeAll(async () => {
    engine = await PostgresEngine.start();
    db = new pg.Pool({ connectionString: engine.url, max: 2 });
    await migrate(db);
  });
  afterAll(async () => {
    await db?.end();
    await engine?.stop();
  });

  it('the agent outbox hands out commands by seq, 1..25, in pages', async () => {
    await createCluster(db, { id: 'east', region: 'us-east', kind: 'kubernetes' });
    for (let i = 0; i < 25; i++) await enqueueCommand(db, 'east', { kind: 'node', node: `n-${i}`, op: 'cordon', reason: '', timeoutSeconds: 120 });
    const all = await pendingCommands(db, 'east', 0, keyring);
    expect(all.map((c) => c.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const page = await pendingCommands(db, 'east', 5, keyring, 5);
    expect(page.map((c) => c.seq)).toEqual([6, 7, 8, 9, 10]);
  });

  it('job events page in order', async () => {
    await createProject(db, { name: 'ml' });
    const spec = parseJobSpec({ name: 'order', project: 'ml', workload: { image: 'busybox' } });
    if (!spec.ok) throw new Error(JSON.stringify(spec.errors));
    const job = await insertJob(db, spec.value, null);
    for (let i = 0; i < 14; i++) await addEvent(db, job.id, `step-${i}`, null, 1, `step ${i}`);
    const first = await listEvents(db, job.id, null, 8);
    const rest = await listEvents(db, job.id, first.at(-1)!.id, 100);
    expect([...first, ...rest].map((e) => e.type)).toEqual(['submitted', ...Array.from({ length: 14 }, (_, i) => `step-${i}`)]);
  });

  it('the audit log pages in order', async () => {
    for (let i = 0; i < 12; i++) await audit(db, 'admin', `action-${i}`);
    const first = (await listAudit(db, 9, null)) as { id: string; action: string }[];
    const rest = (await listAudit(db, 100, first.at(-1)!.id)) as { id: string; action: string }[];
    expect([...first, ...rest].map((a) => a.action)).toEqual(Array.from({ length: 12 }, (_, i) => `action-${i}`));
  });
});
