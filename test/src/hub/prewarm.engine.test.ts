// The hub's side of prewarming on a real hub (Postgres + Temporal) with an agent speaking the real protocol:
// one command per (dataset, cluster) however many cycles ask, progress and outcome from `prewarm.status` events,
// and a cluster refusing the command (as an agent with a bad copy setting does) leaving the copy failed with its answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { HubLink, MemoryJournal } from '@meridian/edge-agent/hub-link/index';
import type { CommandOutcome } from '@meridian/edge-agent/hub-link/index';
import { ADMIN_TOKEN, Api, FAST, waitFor } from './helpers.ts';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import type { Command } from '@meridian/protocol/agent-protocol';
import { TestAgent, fakeNodes } from '../doubles/test-agent.ts';

type Job = { id: string; state: string; cluster: string | null; reason: string | null };
type Cache = { clusterId: string; state: string; percent: number; reason: string | null };

let pg: PostgresEngine;
let temporal: TemporalEngine;
let hub: Hub;
let admin: Api;
let home: TestAgent;
let away: HubLink;
const prewarms: { dataset: string; sizeBytes: number; source?: string | undefined }[] = [];
let answer: (dataset: string) => CommandOutcome = () => ({ ok: true });

beforeAll(async () => {
  [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST, scheduler: { preemption: false, backfill: true, maxPrewarmHoldSec: 1 } });
  admin = new Api(hub.url, ADMIN_TOKEN);
  expect((await admin.post('/api/v1/projects', { name: 'vision', policy: 'locality-first' })).status).toBe(201);
  const h = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'home', region: 'region-a', kind: 'kubernetes' });
  const a = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'away', region: 'region-b', kind: 'kubernetes', links: [{ region: 'region-a', bandwidthBytesPerSec: 1e9, egressUsdPerGB: 0.01 }] });
  // `home` holds the data but no GPUs: every GPU job goes `away` and needs a copy (100 s at 1 GB/s).
  home = new TestAgent({ hubUrl: hub.url, credential: h.body.credential, clusterId: 'home', nodes: 1, gpusPerNode: 0 });
  await home.start();
  away = new HubLink({
    hubUrl: hub.url,
    credential: a.body.credential,
    clusterId: 'away',
    kind: 'kubernetes',
    agentVersion: 'prewarm-test/1',
    journal: new MemoryJournal(),
    backoff: { minMs: 100, maxMs: 1000 },
    onCommand: async (cmd: Command) => {
      if (cmd.kind !== 'prewarm') return { ok: true };
      prewarms.push({ dataset: cmd.dataset, sizeBytes: cmd.sizeBytes, source: cmd.source });
      return answer(cmd.dataset);
    },
  });
  away.start();
  away.emit({ type: 'inventory.snapshot', nodes: fakeNodes(1, 8, 'A100', 'away') });
  await away.flushed(60_000);
  for (const name of ['refused', 'ds', 'broken'])
    expect((await admin.post('/api/v1/datasets', { name, sizeBytes: 100e9, homeCluster: 'home' })).status).toBe(201);
});

afterAll(async () => {
  await away?.stop();
  await home?.stop();
  await hub?.stop();
  await Promise.all([pg?.stop(), temporal?.stop()]);
});

const submit = async (name: string, dataset: string): Promise<string> => {
  const r = await admin.post<Job>('/api/v1/jobs', { name, project: 'vision', resources: { gpus: 1, cpu: 1, memory: '1Gi' }, workload: { image: 'busybox' }, datasets: [{ name: dataset }] });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id;
};
const job = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
const cacheAway = async (dataset: string): Promise<Cache | undefined> =>
  (await admin.get<{ caches: Cache[] }>(`/api/v1/datasets/${dataset}`)).body.caches.find((c) => c.clusterId === 'away');
const sent = (dataset: string) => prewarms.filter((p) => p.dataset === dataset);
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('prewarming from the scheduling loop', () => {
  it('sends one prewarm, follows progress to cached, and then places the job', async () => {
    const id = await submit('train', 'ds');
    await waitFor('Prewarming reason', async () => /^Prewarming\(ds, 0%\) on away$/.test((await job(id)).reason ?? ''), 30_000);
    await waitFor('prewarm command at the agent', async () => sent('ds').length === 1, 30_000);
    expect(sent('ds')[0]).toEqual({ dataset: 'ds', sizeBytes: 100e9, source: 'home' });
    expect(await cacheAway('ds')).toMatchObject({ state: 'prewarming', percent: 0 });

    away.emit({ type: 'prewarm.status', dataset: 'ds', phase: 'Running', percent: 40 });
    await waitFor('progress in the reason', async () => (await job(id)).reason === 'Prewarming(ds, 40%) on away', 30_000);
    expect(await cacheAway('ds')).toMatchObject({ state: 'prewarming', percent: 40 });
    await settle(1500); // several cycles
    expect(sent('ds')).toHaveLength(1);

    away.emit({ type: 'prewarm.status', dataset: 'ds', phase: 'Succeeded', percent: 100 });
    const placed = await waitFor('job placed once the cache is warm', async () => {
      const j = await job(id);
      return j.state !== 'Queued' ? j : null;
    }, 30_000);
    expect(placed.cluster).toBe('away');
    expect(await cacheAway('ds')).toMatchObject({ state: 'cached', percent: 100, reason: null });
    // a late progress report does not undo the cache
    away.emit({ type: 'prewarm.status', dataset: 'ds', phase: 'Running', percent: 99 });
    await away.flushed(10_000);
    expect((await cacheAway('ds'))?.state).toBe('cached');
    expect(sent('ds')).toHaveLength(1);
  });

  it('a copy that fails is recorded with the reason and not retried at once', async () => {
    const id = await submit('train-broken', 'broken');
    await waitFor('prewarm command at the agent', async () => sent('broken').length === 1, 30_000);
    away.emit({ type: 'prewarm.status', dataset: 'broken', phase: 'Failed', percent: 0, reason: 'copy Job pw-broken failed: BackoffLimitExceeded' });
    await waitFor('failed cache row', async () => (await cacheAway('broken'))?.state === 'failed', 30_000);
    expect((await cacheAway('broken'))?.reason).toBe('copy Job pw-broken failed: BackoffLimitExceeded');
    await settle(1500);
    expect(sent('broken')).toHaveLength(1);
    expect((await job(id)).state).toBe('Queued');
  });

  it('a cluster that refuses prewarm leaves the copy failed with its answer', async () => {
    answer = (d) => (d === 'refused' ? { ok: false, error: 'prewarm on Slurm runs as a staging job; not supported here' } : { ok: true });
    await submit('train-refused', 'refused');
    await waitFor('prewarm command at the agent', async () => sent('refused').length === 1, 30_000);
    const c = await waitFor('refused copy failed', async () => {
      const x = await cacheAway('refused');
      return x?.state === 'failed' ? x : null;
    }, 30_000);
    expect(c.reason).toMatch(/not supported here/);
    await settle(1500);
    expect(sent('refused')).toHaveLength(1);
  });
});
