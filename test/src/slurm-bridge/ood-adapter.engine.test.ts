// Open OnDemand's Slurm adapter, replayed: every command line ood_core's adapter runs (ood-adapter.ts), once
// against native Slurm 22.05 and once against Meridian's login commands (bin shim → hub → Slurm edge agent →
// the same slurmctld), each output read by the adapter's own parsing rules. Meridian must succeed wherever
// native Slurm does and give the adapter the same answers. The run's results are the compatibility matrix in
// docs/slurm.md (written there when MERIDIAN_UPDATE_DOCS=1; ood-matrix.ts renders it).
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST } from '../hub/helpers.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { SlurmAgent } from '@meridian/edge-agent/slurm/agent';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { packagePath } from '../packages.ts';
import { OodSlurmAdapter, type OodScript, type Runner } from './ood-adapter.ts';
import { fieldRows, writeMatrix, type Matrix } from './ood-matrix.ts';

const bin = packagePath('slurm-bridge', 'bin');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pg: PostgresEngine;
let temporal: TemporalEngine;
let slurm: SlurmCluster;
let hub: Hub;
let agent: SlurmAgent;
let dirs: { native: string; meridian: string };
let accountsFile: string;
let native: OodSlurmAdapter;
let meridian: OodSlurmAdapter;
const nativeM: OodSlurmAdapter['calls'] = [];
const matrix: Matrix = { calls: [], errors: [], fields: [], jobIds: { n: [], m: [] } };

const nativeRun: Runner = (cmd, args, o = {}) => run(cmd, args, { cwd: dirs.native, env: { ...slurm.env, ...o.env }, input: o.stdin });
const meridianEnv = () => ({ ...process.env, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, MERIDIAN_PROJECT: 'default', MERIDIAN_SLURM_ACCOUNTS: accountsFile });
const meridianRun: Runner = (cmd, args, o = {}) => run(join(bin, cmd), args, { cwd: dirs.meridian, env: { ...meridianEnv(), ...o.env }, input: o.stdin });

beforeAll(async () => {
  [pg, temporal, slurm] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), SlurmCluster.start({ clusterName: 'hpc', restd: false, accounting: { accounts: [{ name: 'physics', users: ['root'], qos: ['normal', 'long'] }] } })]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST });
  const admin = new Api(hub.url, ADMIN_TOKEN);
  expect([201, 409]).toContain((await admin.post('/api/v1/projects', { name: 'default' })).status);
  const c = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'onprem', kind: 'slurm', prices: { a100: { onDemand: 1 } } });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  dirs = { native: join(slurm.dir, 'native'), meridian: join(slurm.dir, 'meridian') };
  for (const d of Object.values(dirs)) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o777);
  }
  accountsFile = join(slurm.dir, 'slurm-accounts');
  writeFileSync(accountsFile, '# account  project  users  qos\nphysics    default  *      normal,long\n');
  const driver = new SlurmDriver({ transport: new LocalTransport({ env: { SLURM_CONF: slurm.confPath } }), clusterName: 'hpc', workDir: dirs.meridian, pollIntervalMs: 500 });
  agent = new SlurmAgent({ hubUrl: hub.url, credential: c.body.credential, clusterId: 'hpc', driver, backoff: { minMs: 100, maxMs: 1000 } });
  agent.start();
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(250)) {
    if ((await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=hpc')).body.items?.length === 2) break;
  }
  native = new OodSlurmAdapter(nativeRun, undefined, 'hpc');
  meridian = new OodSlurmAdapter(meridianRun, undefined, 'meridian');
});

afterAll(async () => {
  matrix.calls = pairCalls();
  matrix.jobIds = { n: Object.values(ids).map((x) => x.n), m: Object.values(ids).map((x) => x.m) };
  if (process.env.MERIDIAN_UPDATE_DOCS === '1') writeMatrix(matrix);
  await agent?.stop();
  await hub?.stop();
  await Promise.all([slurm?.stop(), pg?.stop(), temporal?.stop()]);
});

/** The two adapters' command logs side by side (same op sequence on both). */
function pairCalls(): Matrix['calls'] {
  const pairs: Matrix['calls'] = (native?.calls ?? []).map((n, i) => ({ op: n.op, native: n, meridian: meridian.calls[i] }));
  // -M hpc on both sides (the same sequence), then Meridian's -M meridian (native has no such cluster)
  const mHpc = matrix.calls.filter((c) => c.op.endsWith('(-M hpc)'));
  pairs.push(...mHpc.map((c, i) => ({ op: c.op, native: nativeM[i], meridian: c.meridian })));
  pairs.push(...matrix.calls.filter((c) => !c.op.endsWith('(-M hpc)')));
  return pairs;
}

/** Runs one adapter operation on both sides; returns both outcomes (value or the adapter's error). */
async function both<T>(fn: (a: OodSlurmAdapter) => Promise<T>): Promise<{ n: T | Error; m: T | Error }> {
  const n = await fn(native).catch((e: Error) => e);
  const m = await fn(meridian).catch((e: Error) => e);
  return { n, m };
}

function ok<T>(x: T | Error, what: string): T {
  if (x instanceof Error) throw new Error(`${what}: ${x.message}`);
  return x;
}

const held: OodScript = { content: 'sleep 300\n', submitAsHold: true, jobName: 'ood-held', outputPath: 'held-%j.out', errorPath: 'held-%j.err', queueName: 'gpu', wallTime: 3600, shellPath: '/bin/bash' };
const ids: Record<string, { n: string; m: string }> = {};

describe('Open OnDemand Slurm adapter: native Slurm vs Meridian on the same slurmctld', () => {
  it('submit: every option set the adapter builds gets a job id on both', async () => {
    const sets: Record<string, (dir: string) => OodScript> = {
      held: () => held,
      full: (dir) => ({
        content: 'echo "$FOO" > full.txt\nsleep 2\n', rerunnable: true, workdir: dir, email: ['ood@example.org'], emailOnStarted: true, emailOnTerminated: true,
        jobName: 'ood-full', inputPath: '/dev/null', queueName: 'gpu', accountingId: 'physics', wallTime: 300, qos: 'normal', gpusPerNode: 1, cores: 2,
        jobEnvironment: { FOO: 'bar' }, copyEnvironment: false, native: ['--mem=200M'], shellPath: '/bin/bash',
      }),
      array: () => ({ content: '#!/bin/sh\ntrue\n', jobArrayRequest: '0-3%2', rerunnable: false, emailOnTerminated: true, copyEnvironment: true, startTime: new Date(), outputPath: '/dev/null' }),
      copyenv: () => ({ content: '#!/bin/sh\ntrue\n', jobEnvironment: { OOD_X: '1' }, copyEnvironment: true, emailOnStarted: false, emailOnTerminated: false, outputPath: '/dev/null' }),
    };
    for (const [name, mk] of Object.entries(sets)) {
      const n = await native.submit(mk(dirs.native)).catch((e: Error) => e);
      const m = await meridian.submit(mk(dirs.meridian)).catch((e: Error) => e);
      ids[name] = { n: ok(n, `native submit ${name}`), m: ok(m, `meridian submit ${name}`) };
      expect(ids[name]!.m, name).toMatch(/^\d+$/);
    }
    const dep = await both((a) => a.submit({ content: '#!/bin/sh\ntrue\n', afterok: [a === native ? ids.held!.n : ids.held!.m], outputPath: '/dev/null', priority: 10 }));
    ids.dep = { n: ok(dep.n, 'native dependent'), m: ok(dep.m, 'meridian dependent') };
  });

  it('status and info of a held job: queued, every field the adapter reads, the same values', async () => {
    const st = await both((a) => a.status(a === native ? ids.held!.n : ids.held!.m));
    expect([st.n, st.m]).toEqual(['queued', 'queued']);
    const info = await both((a) => a.info(a === native ? ids.held!.n : ids.held!.m));
    const n = ok(info.n, 'native info');
    const m = ok(info.m, 'meridian info');
    expect([n.status, m.status]).toEqual(['queued', 'queued']);
    const [nj, mj] = [n.jobs[0]!, m.jobs[0]!];
    const defined = (j: Record<string, string | undefined>) => Object.keys(j).filter((k) => j[k] !== undefined);
    expect(defined(mj)).toEqual(defined(nj));
    for (const k of ['job_name', 'partition', 'state_compact', 'state', 'reason', 'time_limit', 'time_left', 'time_used', 'cpus', 'min_cpus', 'nodes', 'node_list', 'start_time', 'end_time', 'array_task_id', 'exec_host', 'comment', 'dependency', 'features'])
      expect({ k, v: mj[k] }).toEqual({ k, v: nj[k] });
    for (const [k, v] of Object.entries(nj)) matrix.fields.push(...fieldRows('info', k, v, mj[k], ids.held!));
  });

  it('hold, release, delete; a job id neither side has is "completed" and deleting it is no error', async () => {
    for (const op of ['hold', 'release', 'hold'] as const) {
      const r = await both((a) => a[op](a === native ? ids.held!.n : ids.held!.m));
      ok(r.n, `native ${op}`);
      ok(r.m, `meridian ${op}`);
    }
    const gone = await both((a) => a.status('99999999'));
    expect([gone.n, gone.m]).toEqual(['completed', 'completed']);
    const gi = await both((a) => a.info('99999999'));
    expect([ok(gi.n, 'native').status, ok(gi.m, 'meridian').status]).toEqual(['completed', 'completed']);
    for (const op of ['hold', 'release', 'delete'] as const) {
      const r = await both((a) => a[op]('99999999'));
      ok(r.n, `native ${op} of an unknown id`);
      ok(r.m, `meridian ${op} of an unknown id`);
    }
    const del = await both((a) => a.delete(a === native ? ids.held!.n : ids.held!.m));
    ok(del.n, 'native delete');
    ok(del.m, 'meridian delete');
    for (const [a, id] of [[native, ids.held!.n], [meridian, ids.held!.m]] as const) {
      let s = '';
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && s !== 'completed'; await sleep(500)) s = await a.status(id);
      expect(s, `${a === native ? 'native' : 'meridian'} status after delete`).toBe('completed');
    }
  });

  it('info_all and info_where_owner list the submitted jobs with known states', async () => {
    const all = await both((a) => a.infoAll());
    for (const [side, list, mine] of [['native', all.n, ids.full!.n], ['meridian', all.m, ids.full!.m]] as const) {
      const jobs = ok(list, `${side} info_all`);
      expect(jobs.map((j) => j.job_id), side).toContain(mine);
      expect(jobs.every((j) => j.state_compact && j.state_compact in { PD: 1, R: 1, CG: 1, CD: 1, CA: 1, F: 1, TO: 1 }), side).toBe(true);
    }
    const owner = ok(all.m, 'meridian').find((j) => j.job_id === ids.full!.m)!.user!;
    const mine = await both((a) => a.infoWhereOwner(a === native ? 'root' : owner));
    expect(ok(mine.n, 'native info_where_owner').map((j) => j.job_id)).toContain(ids.full!.n);
    expect(ok(mine.m, 'meridian info_where_owner').map((j) => j.job_id)).toContain(ids.full!.m);
  });

  it('cluster_info, nodes and queues: the same cluster seen both ways', async () => {
    const ci = await both((a) => a.clusterInfo());
    const [n, m] = [ok(ci.n, 'native cluster_info'), ok(ci.m, 'meridian cluster_info')];
    expect({ nodes: m.total_nodes, cpus: m.total_processors }).toEqual({ nodes: n.total_nodes, cpus: n.total_processors });
    expect(n).toMatchObject({ total_nodes: 2, total_processors: 16 });
    // The harness's two simulated nodes share one host name, so native's `sinfo -N -O nodehost,...` lines are
    // identical while both nodes are in the same state and the adapter's `lines.uniq` then counts one node's 4 GPUs;
    // Meridian names each node (8, as scontrol says).
    expect(m.total_gpus).toBe(8);
    expect([4, 8]).toContain(n.total_gpus);
    const nodes = await both((a) => a.nodes());
    expect(ok(nodes.n, 'native nodes').every((x) => x.procs === '8')).toBe(true);
    expect(ok(nodes.m, 'meridian nodes').map((x) => `${x.name}:${x.procs}`)).toEqual(['gpu-0:8', 'gpu-1:8']);
    const q = await both((a) => a.queues());
    expect(ok(q.m, 'meridian queues')).toEqual(ok(q.n, 'native queues'));
  });

  it('accounts and info_historic: Slurm\'s accounting (slurmdbd) and Meridian\'s account table and hub agree', async () => {
    const acc = await both((a) => a.accounts());
    const norm = (x: { name: string; qos: string[] }[]) => x.map((a) => ({ name: a.name, qos: [...a.qos].sort() }));
    // native also lists `root`, the account slurmdbd creates with the cluster; the table has only the site's
    expect(norm(ok(acc.n, 'native accounts')).filter((a) => a.name !== 'root')).toEqual(norm(ok(acc.m, 'meridian accounts')));
    expect(norm(ok(acc.m, 'meridian accounts'))).toEqual([{ name: 'physics', qos: ['long', 'normal'] }]);
    const h = await both((a) => a.infoHistoric({ jobIds: [a === native ? ids.full!.n : ids.full!.m, a === native ? ids.held!.n : ids.held!.m] }));
    const [nrows, rows] = [ok(h.n, 'native info_historic'), ok(h.m, 'meridian info_historic')];
    expect(rows.map((r) => r.job_id)).toEqual([ids.held!.m, ids.full!.m]);
    expect(nrows.map((r) => r.job_id)).toEqual([ids.held!.n, ids.full!.n]);
    nrows.forEach((n, i) => {
      const m = rows[i]!;
      // the cancelled job's state; the other one's depends on when each side's copy started
      for (const k of ['job_name', 'partition', 'time_limit', 'req_cpus', ...(i === 0 ? ['state'] : [])]) expect({ k, v: m[k] }).toEqual({ k, v: n[k] });
      for (const [k, v] of Object.entries(n)) matrix.fields.push(...fieldRows(`sacct (${n.job_name})`, k, v, m[k], { n: ids[i ? 'full' : 'held']!.n, m: ids[i ? 'full' : 'held']!.m }));
    });
    expect(rows[0]).toMatchObject({ job_name: 'ood-held', partition: 'gpu', time_limit: '01:00:00', state: 'CANCELLED by 0', req_mem: '1G' });
    expect(rows[1]).toMatchObject({ job_name: 'ood-full', req_cpus: '2', req_mem: '0.20G' });
    const states = await meridian.infoHistoric({ states: ['CA'], from: 'now-1hours', to: 'now' });
    // the held job, and its afterok dependent (cancelled at the hub: DependencyNeverSatisfied, docs/slurm.md)
    expect(states.map((r) => r.job_id)).toEqual([ids.held!.m, ids.dep!.m]);
    expect(states.every((r) => r.state?.startsWith('CANCELLED'))).toBe(true);
  });

  it('with the adapter\'s cluster: set (-M on every command): the member on both, the federation name on Meridian', async () => {
    // With -h, Slurm prints no `CLUSTER: name` line; with a header it comes first
    for (const runner of [nativeRun, meridianRun]) {
      expect((await runner('squeue', ['-h', '-O', 'JobID', '-j', '99999999,1', '-M', 'hpc'])).stdout).not.toContain('CLUSTER');
      expect((await runner('sinfo', ['-o', '%R', '-M', 'hpc'])).stdout).toBe('CLUSTER: hpc\nPARTITION\ngpu\n');
    }
    for (const [side, cluster, runner, mine] of [['native', 'hpc', nativeRun, ids.full!.n], ['meridian', 'hpc', meridianRun, ids.full!.m], ['meridian', 'meridian', meridianRun, ids.full!.m]] as const) {
      const a = new OodSlurmAdapter(runner, cluster, side === 'native' ? 'hpc' : 'meridian');
      expect(await a.status(mine), `${side} -M ${cluster}`).toMatch(/^(queued|running|completed)$/);
      expect((await a.infoAll()).map((j) => j.job_id)).toContain(mine);
      expect((await a.clusterInfo()).total_nodes).toBe(2);
      expect((await a.queues()).map((x) => x.name)).toEqual(['gpu']);
      expect((await a.nodes()).map((x) => x.procs)).toContain('8');
      expect((await a.infoHistoric({ jobIds: [mine] })).length).toBe(1);
      await a.hold('99999999');
      if (side === 'meridian') matrix.calls.push(...a.calls.map((c) => ({ op: `${c.op} (-M ${cluster})`, meridian: c })));
      else nativeM.push(...a.calls);
    }
    const bad = await meridianRun('squeue', ['-M', 'nosuch']);
    expect(bad).toEqual({ code: 1, stdout: '', stderr: "squeue: error: No cluster 'nosuch' known by database.\nsqueue: error: 'nosuch' can't be reached now, or it is an invalid entry for --cluster.  Use 'sacctmgr list clusters' to see available clusters.\n" });
  });
});

describe('every squeue -O and sinfo -O field: Slurm 22.05\'s titles, and values where both have the job', () => {
  it('squeue -O titles match native for every field in the table', async () => {
    const { SQUEUE_LONG_FIELDS, SINFO_LONG_FIELDS } = await import('@meridian/protocol/slurm/fields');
    const all = Object.keys(SQUEUE_LONG_FIELDS);
    const spec = all.map((f) => `${f}:\x1F`).join(',');
    const [n, m] = await Promise.all([nativeRun('squeue', ['--states=all', '-O', spec, '-j', ids.full!.n]), meridianRun('squeue', ['--states=all', '-O', spec, '-j', ids.full!.m])]);
    expect([n.code, n.stderr, m.code, m.stderr]).toEqual([0, '', 0, '']);
    const [nh, nv] = n.stdout.split('\n').map((l) => l.split('\x1F'));
    const [mh, mv] = m.stdout.split('\n').map((l) => l.split('\x1F'));
    expect(mh).toEqual(nh);
    all.forEach((f, i) => matrix.fields.push(...fieldRows('squeue -O', f, nv![i], mv![i], ids.full!)));
    const sAll = Object.keys(SINFO_LONG_FIELDS);
    const sspec = sAll.map((f) => `${f}:\x1F`).join(',');
    const [sn, sm] = await Promise.all([nativeRun('sinfo', ['-N', '-O', sspec, '-n', 'gpu-1']), meridianRun('sinfo', ['-N', '-O', sspec, '-n', 'gpu-1'])]);
    expect([sn.code, sm.code, sm.stderr]).toEqual([0, 0, '']);
    const [snh, snv] = sn.stdout.split('\n').map((l) => l.split('\x1F'));
    const [smh, smv] = sm.stdout.split('\n').map((l) => l.split('\x1F'));
    expect(smh).toEqual(snh);
    sAll.forEach((f, i) => matrix.fields.push(...fieldRows('sinfo -NO', f, snv![i], smv![i], ids.full!)));
  });
});

describe('broken input: Slurm\'s error text and exit code', () => {
  const cases: [string, string[]][] = [
    ['squeue', ['-O']], ['squeue', ['--bogus']], ['squeue', ['-t', 'BOGUS']], ['squeue', ['-h', '-O', 'JobID,Bogus', '-n', 'no-such-name']], ['sinfo', ['--bogus']],
    ['sinfo', ['-Z']], ['sinfo', ['-h', '-O', 'bogus']], ['scontrol', ['bogus']], ['scontrol', ['show', 'bogus']], ['scontrol', ['show', 'job', '99999999']],
    ['scontrol', ['-Z']], ['sacct', ['--units', 'Q']], ['sacct', ['-S', 'garbage']], ['sacct', ['--bogus']], ['sacct', ['-Z']], ['sacct', ['--delimiter']],
    ['sacct', ['-s', 'XX']], ['sacctmgr', ['show', 'bogus']], ['sacctmgr', ['-nP', 'show', 'user', 'format=bogus']], ['sacctmgr', ['--bogus']],
    ['sacctmgr', ['-nP', 'show', 'assoc', 'where', 'bogus=1']],
  ];
  it.each(cases)('%s %j', async (cmd, args) => {
    const [n, m] = await Promise.all([nativeRun(cmd, args), meridianRun(cmd, args)]);
    matrix.errors.push({ cmd, args, native: n, meridian: m });
    expect({ code: m.code, stderr: m.stderr }).toEqual({ code: n.code, stderr: n.stderr });
  });

  it('sacctmgr show answers as Slurm\'s for the site\'s accounts (the table mirrors the harness\'s slurmdbd)', async () => {
    const queries = [
      ['-nP', 'show', 'qos', 'format=name'],
      ['-nP', 'show', 'users', 'withassoc', 'format=user,account,qos', 'where', 'account=physics'],
      ['-nP', 'show', 'assoc', 'format=cluster,account,user,qos', 'where', 'user=root', 'account=physics'],
      ['-nP', 'show', 'account', 'physics', 'format=account'],
      ['-P', 'show', 'user', 'root', 'format=user'],
      ['-nP', 'list', 'users', 'where', 'user=nosuch'],
    ];
    for (const q of queries) {
      const [n, m] = await Promise.all([nativeRun('sacctmgr', q), meridianRun('sacctmgr', q, { env: { MERIDIAN_CLUSTER_NAME: 'hpc' } })]);
      matrix.errors.push({ cmd: 'sacctmgr', args: q, native: n, meridian: m });
      expect({ q, code: m.code, stdout: m.stdout }).toEqual({ q, code: n.code, stdout: n.stdout });
    }
  });

  it('Meridian-only refusals name the problem and the fix', async () => {
    const acct = await meridianRun('sbatch', ['-A', 'nosuch', '--wrap', 'true']);
    expect(acct).toMatchObject({ code: 1, stderr: 'sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified\n' });
    const ro = await meridianRun('sacctmgr', ['add', 'account', 'x']);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toContain('read-only');
    writeFileSync(join(slurm.dir, 'bad-accounts'), 'physics\n');
    const badTable = await meridianRun('sbatch', ['-A', 'physics', '--wrap', 'true'], { env: { MERIDIAN_SLURM_ACCOUNTS: join(slurm.dir, 'bad-accounts') } });
    expect(badTable).toMatchObject({ code: 1, stderr: `sbatch: error: ${join(slurm.dir, 'bad-accounts')} line 1: account "physics" names no project; write "account project [users] [qos]"\n` });
  });
});
