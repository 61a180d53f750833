// Bounds on a real hub (Postgres + Temporal): every nonsense spec is refused with 400 naming its field and
// nothing is stored; unknown clusters and regions are refused at submit with the ones that exist.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { packagePath } from '../packages.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { ADMIN_TOKEN, Api, FAST, helloJob } from './helpers.ts';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';

type Err = { code: string; message: string; details: { path: string; message: string }[] };

let pg: PostgresEngine;
let temporal: TemporalEngine;
let hub: Hub;
let admin: Api;
let member: Api;

beforeAll(async () => {
  [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST, runScheduler: false });
  admin = new Api(hub.url, ADMIN_TOKEN);
  for (const [id, region] of [['east', 'us-east'], ['west', 'us-west']] as const)
    expect((await admin.post('/api/v1/clusters', { id, region, kind: 'kubernetes' })).status).toBe(201);
  expect((await admin.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
  expect((await admin.post('/api/v1/users', { name: 'mia', projects: { ml: 'member' } })).status).toBe(201);
  member = admin.as((await admin.post<{ token: string }>('/api/v1/users/mia/tokens', {})).body.token);
});

afterAll(async () => {
  await hub?.stop();
  await Promise.all([pg?.stop(), temporal?.stop()]);
});

// The nonsense the hub used to store (201): each must be a 400 whose details name the field.
const NONSENSE: [string, Record<string, unknown>, string, RegExp][] = [
  ['cpu: 1e306', { resources: { cpu: 1e306 } }, 'resources.cpu', /allowed 0\.001\.\.1,024 cores/],
  ['cpu: "0m"', { resources: { cpu: '0m' } }, 'resources.cpu', /allowed 1\.\.1,024,000 millicores/],
  ['memory: "0"', { resources: { memory: '0' } }, 'resources.memory', /allowed 1\.\.67,108,864 MiB/],
  ['memory: 1e308', { resources: { memory: 1e308 } }, 'resources.memory', /allowed 1\.\.67,108,864 MiB/],
  ['memory: "99999999999999999999999Ti"', { resources: { memory: '99999999999999999999999Ti' } }, 'resources.memory', /allowed 1\.\./],
  ['maxRuntime: 1e308', { maxRuntime: 1e308 }, 'maxRuntime', /allowed 1\.\.31,536,000 seconds/],
  ['maxRuntime: "99999999999d"', { maxRuntime: '99999999999d' }, 'maxRuntime', /\(1s\.\.365d\)/],
  ['expectedRuntime > maxRuntime', { maxRuntime: '1h', expectedRuntime: '2h' }, 'expectedRuntime', /longer than maxRuntime/],
  ['checkpoint.signal: SIGKILL', { checkpoint: { signal: 'SIGKILL' } }, 'checkpoint.signal', /not a signal a job can trap/],
  ['dataset ../../etc/passwd', { datasets: [{ name: '../../etc/passwd' }] }, 'datasets[0].name', /no "\/" and no "\.\."/],
  ['NUL in the script', { workload: { script: '#!/bin/sh\necho \u0000\n' } }, 'workload.script', /NUL/],
  ['NUL in a label value', { labels: { team: 'a\u0000' } }, 'labels.team', /NUL/],
  ['lone surrogate in an annotation', { annotations: { note: 'x\ud800' } }, 'annotations.note', /lone UTF-16 surrogate/],
  ['lone surrogate in a command argument', { workload: { image: 'busybox', command: ['echo', '\udfff'] } }, 'workload.command[1]', /lone UTF-16 surrogate/],
  ['array beyond MaxArraySize', { annotations: { 'slurm.meridian.dev/array': '0-999999999' } }, 'annotations.slurm.meridian.dev/array', /Invalid job array specification/],
  ['unknown cluster', { placement: { clusters: ['east', 'mars'] } }, 'placement.clusters[1]', /no cluster named "mars".*known clusters: east, west/],
  ['unknown region', { placement: { regions: ['moon'] } }, 'placement.regions[0]', /no cluster in region "moon"; known regions: us-east, us-west/],
];

describe('POST /api/v1/jobs refuses nonsense with 400 naming the field', () => {
  it.each(NONSENSE)('%s', async (_what, extra, path, says) => {
    const before = (await member.get<{ items: unknown[] }>('/api/v1/jobs?project=ml')).body.items.length;
    const r = await member.post<Err>('/api/v1/jobs', { ...helloJob('nonsense'), ...extra });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    // an index reads `[1]` or `.1`: the same field either way
    const norm = (p: string) => p.replace(/\[(\d+)\]/g, '.$1');
    const hit = r.body.details.find((d) => norm(d.path) === norm(path));
    expect(hit, JSON.stringify(r.body)).toBeDefined();
    expect(hit!.message).toMatch(says);
    expect((await member.get<{ items: unknown[] }>('/api/v1/jobs?project=ml')).body.items.length).toBe(before);
  });

  it('refuses YAML infinities by field', async () => {
    const yaml = 'name: inf\nproject: ml\nworkload: {image: busybox}\nmaxRuntime: .inf\nresources: {cpu: .nan}\n';
    const r = await member.req<Err>('POST', '/api/v1/jobs', yaml, { 'content-type': 'application/yaml' });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.details.map((d) => d.path).sort()).toEqual(['maxRuntime', 'resources.cpu']);
  });

  it('takes a job placed on known clusters and regions, and the edges of every range', async () => {
    const r = await member.post<{ id: string; state: string }>(
      '/api/v1/jobs',
      helloJob('edges', { placement: { clusters: ['west'], regions: ['us-west'] }, resources: { cpu: '1m', memory: '64Ti', gpus: 64 }, maxRuntime: '365d', expectedRuntime: '365d', workload: { image: 'busybox', script: '#!/bin/sh\necho hi\n' } }),
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  });
});

describe('the other write APIs keep their strings storable and bounded', () => {
  it('a NUL in a price key is a 400 naming prices, not a 5xx', async () => {
    const r = await admin.post<Err>('/api/v1/clusters', { id: 'north', region: 'us-north', kind: 'slurm', prices: { 'A100\u0000': { onDemand: 2 } } });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.details[0]?.path).toMatch(/^prices/);
  });

  it('a region outside the name pattern and an absurd price are 400s naming the field', async () => {
    const r = await admin.post<Err>('/api/v1/clusters', { id: 'south', region: 'Süd Region', kind: 'slurm', prices: { A100: { onDemand: 1e308 } } });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.details.map((d) => d.path).sort()).toEqual(['prices.A100.onDemand', 'region']);
  });
});

describe('login sbatch refuses what native sbatch refuses, before the hub stores anything', () => {
  const sbatch = (args: string[]) => run(join(packagePath('slurm-bridge', 'bin'), 'sbatch'), args, { cwd: tmpdir(), env: { ...process.env, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, MERIDIAN_PROJECT: 'ml' } });
  const jobs = async () => (await admin.get<{ items: unknown[] }>('/api/v1/jobs?project=ml')).body.items.length;

  it.each([
    ['an array beyond MaxArraySize', ['--array=0-999999999', '--wrap', 'true'], 'sbatch: error: Batch job submission failed: Invalid job array specification\n'],
    ['a 5,000-character job name', ['-J', 'n'.repeat(5000), '--wrap', 'true'], 'sbatch: error: Batch job submission failed: Pathname of a file, directory or other parameter too long\n'],
    ['zero tasks', ['--ntasks=0', '--wrap', 'true'], 'sbatch: error: Invalid numeric value "0" for --ntasks.\n'],
    [
      'a cluster the federation does not have',
      ['-M', 'mars', '--wrap', 'true'],
      "sbatch: error: No cluster 'mars' known by database.\nsbatch: error: 'mars' can't be reached now, or it is an invalid entry for --cluster.  Use 'sacctmgr list clusters' to see available clusters.\n",
    ],
  ])('%s', async (_what, args, stderr) => {
    const before = await jobs();
    const r = await sbatch(args);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', stderr]);
    expect(await jobs()).toBe(before);
  });

  it('-M with a known cluster, and -M all (any cluster), submit', async () => {
    for (const m of ['west', 'all']) {
      const before = await jobs();
      const r = await sbatch(['-M', m, '--parsable', '--wrap', 'true']);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toMatch(/^\d+/);
      expect(await jobs()).toBe(before + 1);
    }
  });
});
