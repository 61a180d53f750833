// Side by side: realistic job scripts through native sbatch (harness Slurm) and through Meridian's sbatch
// (bin/sbatch → hub → Slurm edge agent → the same Slurm). Compares what users and scripts see: the submit
// line, output file names and contents, final states and exit codes. Everything is real: Postgres, Temporal,
// the hub, the agent protocol over WebSocket, Slurm.
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST } from '../hub/helpers.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { SlurmCluster } from '../harness/slurm.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { SlurmAgent } from '@meridian/edge-agent/slurm/agent';
import { SlurmDriver } from '@meridian/edge-agent/slurm/driver';
import { parseScontrolJobs } from '@meridian/slurm-bridge/parsers/scontrol';
import { LocalTransport } from '@meridian/slurm-bridge/transports/local';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { packagePath } from '../packages.ts';

const bin = packagePath('slurm-bridge', 'bin');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pg: PostgresEngine;
let temporal: TemporalEngine;
let slurm: SlurmCluster;
let hub: Hub;
let agent: SlurmAgent;
let admin: Api;
let nativeDir: string;
let meridianDir: string;
const results: { name: string; ok: boolean }[] = [];

// Asynchronous on purpose: the hub runs in this process, so a blocking spawn would starve it.
function native(args: string[], input?: string, env: Record<string, string> = {}) {
  return run('sbatch', args, { cwd: nativeDir, env: { ...slurm.env, ...env }, input });
}

function meridian(cmd: string, args: string[], input?: string, env: Record<string, string> = {}) {
  return run(join(bin, cmd), args, { cwd: meridianDir, env: { ...process.env, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, MERIDIAN_PROJECT: 'default', ...env }, input });
}

/** Final Slurm state of a native job: STATE and ExitCode from scontrol. */
async function nativeFinal(id: string, timeoutMs = 150_000): Promise<{ state: string; exit: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const jobs = parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o', id]).stdout).filter((j) => j.jobId === id || j.arrayJobId === id);
    if (jobs.length && jobs.every((j) => ['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'OUT_OF_MEMORY'].includes(j.state) && /^\d+$/.test(j.arrayTaskId ?? '0'))) {
      const worst = jobs.find((j) => j.state !== 'COMPLETED') ?? jobs[0]!;
      return { state: worst.state, exit: `${worst.exitCode}:${worst.signal}` };
    }
    await sleep(500);
  }
  throw new Error(`native job ${id} did not finish`);
}

/** Final state of a Meridian job as Meridian's own sacct -P prints it. */
async function meridianFinal(id: string, timeoutMs = 150_000): Promise<{ state: string; exit: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await meridian('sacct', ['-P', '-n', '-X', '-j', id, '--format=JobID,State,ExitCode']);
    last = r.stdout + r.stderr;
    // An array has one line per task: final when every task is; the first that did not complete speaks for it.
    const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split('|'));
    const worst = lines.find((l) => l[1] !== 'COMPLETED') ?? lines[0];
    if (lines.length && lines.every((l) => l[1] && !['PENDING', 'RUNNING'].includes(l[1]))) return { state: worst![1]!, exit: worst![2]! };
    await sleep(500);
  }
  throw new Error(`meridian job ${id} did not finish; sacct said ${last}`);
}

function record(name: string, fn: () => void): void {
  try {
    fn();
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false });
    throw err;
  }
}

beforeAll(async () => {
  [pg, temporal, slurm] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), SlurmCluster.start({ clusterName: 'hpc', restd: false })]);
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST });
  admin = new Api(hub.url, ADMIN_TOKEN);
  expect([201, 409]).toContain((await admin.post('/api/v1/projects', { name: 'default' })).status); // the hub bootstraps "default"
  const c = await admin.post<{ credential: string }>('/api/v1/clusters', { id: 'hpc', region: 'onprem', kind: 'slurm', prices: { a100: { onDemand: 1 } } });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  nativeDir = join(slurm.dir, 'native');
  meridianDir = join(slurm.dir, 'meridian');
  for (const d of [nativeDir, meridianDir]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o777);
  }
  const driver = new SlurmDriver({ transport: new LocalTransport({ env: { SLURM_CONF: slurm.confPath } }), clusterName: 'hpc', workDir: meridianDir, pollIntervalMs: 500 });
  agent = new SlurmAgent({ hubUrl: hub.url, credential: c.body.credential, clusterId: 'hpc', driver, backoff: { minMs: 100, maxMs: 1000 } });
  agent.start();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const n = await admin.get<{ items: unknown[] }>('/api/v1/nodes?cluster=hpc');
    if (n.body.items?.length === 2) break;
    await sleep(250);
  }
});

afterAll(async () => {
  console.log(`side-by-side: ${results.filter((r) => r.ok).length}/${results.length} comparisons identical`);
  for (const r of results) console.log(`  ${r.ok ? 'same' : 'DIFF'}  ${r.name}`);
  await agent?.stop();
  await hub?.stop();
  await Promise.all([slurm?.stop(), pg?.stop(), temporal?.stop()]);
});

const SUBMITTED = /^Submitted batch job (\d+)\n$/;

async function waitState(id: string, state: string): Promise<void> {
  const dl = Date.now() + 60_000;
  while (Date.now() < dl && (await admin.get<{ state: string }>(`/api/v1/jobs/${id}`)).body.state !== state) await sleep(250);
  expect((await admin.get<{ state: string }>(`/api/v1/jobs/${id}`)).body.state).toBe(state);
}

describe('native sbatch vs Meridian sbatch on the same Slurm', () => {
  it('--wrap with the default output file slurm-%j.out', async () => {
    const n = await native(['--wrap', 'echo hello from $SLURM_JOB_NAME']);
    const m = await meridian('sbatch', ['--wrap', 'echo hello from $SLURM_JOB_NAME']);
    record('wrap: submit line', () => {
      expect(n.stdout).toMatch(SUBMITTED);
      expect(m.stdout, m.stderr).toMatch(SUBMITTED);
      expect([m.code, m.stderr]).toEqual([n.code, n.stderr]);
    });
    const nid = SUBMITTED.exec(n.stdout)![1]!;
    const mid = SUBMITTED.exec(m.stdout)![1]!;
    const [nf, mf] = await Promise.all([nativeFinal(nid), meridianFinal(mid)]);
    record('wrap: state and exit code', () => expect(mf).toEqual(nf));
    record('wrap: output file name and contents', () => {
      expect(readFileSync(join(meridianDir, `slurm-${mid}.out`), 'utf8')).toBe(readFileSync(join(nativeDir, `slurm-${nid}.out`), 'utf8'));
    });
  });

  it('a GPU script with #SBATCH options, output/error patterns and a failing exit', async () => {
    // The script prints how many GPUs it got, not which: the indices depend on what else runs on the
    // node at that moment (the native and Meridian copies may overlap), for native sbatch too.
    const script = '#!/bin/bash\n#SBATCH --job-name=train-gpu\n#SBATCH --gres=gpu:2\n#SBATCH --cpus-per-task=2\n#SBATCH --mem=500M\n#SBATCH --time=00:05:00\n#SBATCH --output=%x-%j.out\n#SBATCH --error=%x-%j.err\necho "gpus=$(echo $SLURM_JOB_GPUS | tr , \\\\n | wc -l) name=$SLURM_JOB_NAME cpus=$SLURM_CPUS_PER_TASK"\necho oops >&2\nexit 3\n';
    writeFileSync(join(nativeDir, 'train.sh'), script);
    writeFileSync(join(meridianDir, 'train.sh'), script);
    const n = await native(['train.sh']);
    const m = await meridian('sbatch', ['train.sh']);
    const nid = SUBMITTED.exec(n.stdout)![1]!;
    const mid = SUBMITTED.exec(m.stdout)![1]!;
    const [nf, mf] = await Promise.all([nativeFinal(nid), meridianFinal(mid)]);
    record('gpu script: FAILED 3:0', () => {
      expect(nf).toEqual({ state: 'FAILED', exit: '3:0' });
      expect(mf).toEqual(nf);
    });
    record('gpu script: %x-%j.out / .err names and contents', () => {
      expect(readFileSync(join(meridianDir, `train-gpu-${mid}.out`), 'utf8')).toBe(readFileSync(join(nativeDir, `train-gpu-${nid}.out`), 'utf8'));
      expect(readFileSync(join(meridianDir, `train-gpu-${mid}.err`), 'utf8')).toBe(readFileSync(join(nativeDir, `train-gpu-${nid}.err`), 'utf8'));
    });
  });

  it('--parsable with the script on stdin and SBATCH_EXPORT=NONE (Open OnDemand\'s call)', async () => {
    const script = '#!/bin/bash\necho ood\n';
    const n = await native(['--parsable'], script, { SBATCH_EXPORT: 'NONE' });
    const m = await meridian('sbatch', ['--parsable'], script, { SBATCH_EXPORT: 'NONE' });
    record('ood: --parsable prints the id alone', () => {
      expect(n.stdout).toMatch(/^\d+\n$/);
      expect(m.stdout, m.stderr).toMatch(/^\d+\n$/);
      expect(m.code).toBe(n.code);
    });
    const [nf, mf] = await Promise.all([nativeFinal(n.stdout.trim()), meridianFinal(m.stdout.trim())]);
    record('ood: COMPLETED 0:0', () => expect(mf).toEqual(nf));
  });

  it('an array with a concurrency limit and %A_%a output files', async () => {
    const args = ['--array=0-3%2', '-o', 'arr-%A_%a.out', '--wrap', 'echo task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT'];
    const n = await native(args);
    const m = await meridian('sbatch', args);
    const nid = SUBMITTED.exec(n.stdout)![1]!;
    const mid = SUBMITTED.exec(m.stdout)![1]!;
    const [nf, mf] = await Promise.all([nativeFinal(nid), meridianFinal(mid)]);
    record('array: final state', () => expect(mf).toEqual(nf));
    const nativeTasks = parseScontrolJobs(slurm.run('scontrol', ['show', 'job', '-o', nid]).stdout)
      .filter((j) => j.arrayJobId === nid)
      .sort((a, b) => Number(a.arrayTaskId) - Number(b.arrayTaskId))
      .map((j) => `ID_${j.arrayTaskId}|${j.state}|${j.exitCode}:${j.signal}\n`)
      .join('');
    const meridianTasks = (await meridian('sacct', ['-P', '-n', '-X', '-j', mid, '--format=JobID,State,ExitCode'])).stdout.replaceAll(`${mid}_`, 'ID_');
    record('array: one accounting row per task (N_i, state, code:signal)', () => expect(meridianTasks).toBe(nativeTasks));
    record('array: per-task files and contents', () => {
      for (const i of [0, 1, 2, 3]) expect(readFileSync(join(meridianDir, `arr-${mid}_${i}.out`), 'utf8')).toBe(readFileSync(join(nativeDir, `arr-${nid}_${i}.out`), 'utf8'));
    });
  });

  it('a dependency chain (afterok)', async () => {
    const first = ['-o', 'chain-%j.out', '--wrap', 'sleep 2; echo first'];
    const n1 = SUBMITTED.exec((await native(first)).stdout)![1]!;
    const m1r = await meridian('sbatch', first);
    const m1 = SUBMITTED.exec(m1r.stdout)![1]!;
    // Meridian's dependency ids are its own job ids; the hub dispatches the second job once the first succeeded.
    const n2 = SUBMITTED.exec((await native(['--dependency', `afterok:${n1}`, '-o', 'chain-%j.out', '--wrap', 'echo second'])).stdout)![1]!;
    const m2r = await meridian('sbatch', ['--dependency', `afterok:${m1}`, '-o', 'chain-%j.out', '--wrap', 'echo second']);
    const m2 = SUBMITTED.exec(m2r.stdout)![1]!;
    const [nf, mf] = await Promise.all([nativeFinal(n2), meridianFinal(m2)]);
    record('dependency: second job completes after the first', () => {
      expect(mf).toEqual(nf);
      expect(readFileSync(join(meridianDir, `chain-${m2}.out`), 'utf8')).toBe('second\n');
    });
  });

  it('a job that runs past --time ends TIMEOUT', async () => {
    const args = ['-t', '1', '-o', 'tl-%j.out', '--wrap', 'echo start; sleep 300'];
    const nid = SUBMITTED.exec((await native(args)).stdout)![1]!;
    const mid = SUBMITTED.exec((await meridian('sbatch', args)).stdout)![1]!;
    const [nf, mf] = await Promise.all([nativeFinal(nid, 200_000), meridianFinal(mid, 200_000)]);
    record('timeout: TIMEOUT state', () => {
      expect(nf.state).toBe('TIMEOUT');
      expect(mf.state).toBe('TIMEOUT');
    });
  });

  it('unknown options and bad values fail the same way, before anything is submitted', async () => {
    const errors = [['--foo', '--wrap', 'true'], ['-Z', '--wrap', 'true'], ['--time=abc', '--wrap', 'true'], ['--ntasks=0', '--wrap', 'true'], ['-p', 'nowhere', '--wrap', 'true']];
    for (const args of errors) {
      const n = await native(args);
      const m = await meridian('sbatch', args);
      record(`error: ${args[0]}`, () => expect({ code: m.code, stderr: m.stderr, stdout: m.stdout }).toEqual({ code: n.code, stderr: n.stderr, stdout: n.stdout }));
    }
    // Slurm 22.05 takes a dependency on a job it does not know as satisfied; the hub refuses it (not counted).
    const dep = await meridian('sbatch', ['--dependency=afterok:9999999', '--wrap', 'true']);
    expect([dep.code, dep.stdout, dep.stderr]).toEqual([1, '', 'sbatch: error: Batch job submission failed: Job dependency problem\n']);
  });

  it('sbatch --hold, then scontrol release: held in squeue, then runs', async () => {
    const args = ['-H', '-o', 'rel-%j.out', '--wrap', 'echo released'];
    const nid = SUBMITTED.exec((await native(args)).stdout)![1]!;
    const mid = SUBMITTED.exec((await meridian('sbatch', args)).stdout)![1]!;
    await sleep(1500); // a scheduling cycle or two: still held
    const nq = slurm.run('squeue', ['-h', '-j', nid, '-o', '%t %r']).stdout;
    const mq = await meridian('squeue', ['-h', '-j', mid, '-o', '%t %r']);
    record('hold: squeue PD JobHeldUser on both', () => expect(mq.stdout).toBe(nq));
    expect(slurm.run('scontrol', ['release', nid]).code).toBe(0);
    const r = await meridian('scontrol', ['release', mid]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const [nf, mf] = await Promise.all([nativeFinal(nid), meridianFinal(mid)]);
    record('hold: COMPLETED after release, same output', () => {
      expect(mf).toEqual(nf);
      expect(readFileSync(join(meridianDir, `rel-${mid}.out`), 'utf8')).toBe(readFileSync(join(nativeDir, `rel-${nid}.out`), 'utf8'));
    });
  });

  it('a held array shows its pending range in squeue like Slurm', async () => {
    const args = ['-H', '--array=0-5:2%2', '--wrap', 'true'];
    const nid = SUBMITTED.exec((await native(args)).stdout)![1]!;
    const mid = SUBMITTED.exec((await meridian('sbatch', args)).stdout)![1]!;
    await sleep(1000);
    const nq = slurm.run('squeue', ['-h', '-j', nid, '-o', '%i %t %r']).stdout.replace(nid, 'ID');
    const mq = (await meridian('squeue', ['-h', '-j', mid, '-o', '%i %t %r'])).stdout.replace(mid, 'ID');
    record('array: pending range N_[0-4:2%2]-style id in squeue', () => expect(mq).toBe(nq));
    slurm.run('scancel', [nid]);
    await meridian('scancel', [mid]);
  });

  it('scontrol hold of a job already pending in Slurm is forwarded there; release lets it go', async () => {
    // --begin keeps the job pending in slurmctld after the hub dispatched it.
    const m = await meridian('sbatch', ['--begin=now+600', '-o', 'begin-%j.out', '--wrap', 'true']);
    const mid = SUBMITTED.exec(m.stdout)![1]!;
    await waitState(mid, 'Dispatched');
    const h = await meridian('scontrol', ['uhold', mid]);
    expect([h.code, h.stderr]).toEqual([0, '']);
    let slurmId: string | null = null;
    for (let i = 0; i < 120 && !slurmId; i++) {
      slurmId = (await admin.get<{ clusterJobId: string | null }>(`/api/v1/jobs/${mid}`)).body.clusterJobId; // reported with the agent's next poll
      if (!slurmId) await sleep(250);
    }
    const nid = SUBMITTED.exec((await native(['--begin=now+600', '--wrap', 'true'])).stdout)![1]!;
    expect(slurm.run('scontrol', ['uhold', nid]).code).toBe(0);
    // The agent holds as the Slurm user it runs as (root on the harness: an admin hold); the user sees their hold.
    expect(slurm.run('squeue', ['-h', '-j', slurmId!, '-o', '%t %r']).stdout).toMatch(/^PD JobHeld(User|Admin)\n$/);
    const mq = await meridian('squeue', ['-h', '-j', mid, '-o', '%t %r']);
    record('pending hold: Meridian squeue as native', () => expect(mq.stdout).toBe(slurm.run('squeue', ['-h', '-j', nid, '-o', '%t %r']).stdout));
    const r = await meridian('scontrol', ['release', mid]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(slurm.run('squeue', ['-h', '-j', slurmId!, '-o', '%r']).stdout.trim()).not.toMatch(/JobHeld/);
    await meridian('scancel', [mid]);
    slurm.run('scancel', [nid]);
  });

  it('scontrol hold of a running job is refused with a clear message (Slurm 22.05 accepts it silently)', async () => {
    const mid = SUBMITTED.exec((await meridian('sbatch', ['--wrap', 'sleep 60'])).stdout)![1]!;
    await waitState(mid, 'Running');
    const m = await meridian('scontrol', ['hold', mid]);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(new RegExp(`^scontrol: error: Job is no longer pending execution for job ${mid}`));
    await meridian('scancel', [mid]);
  });

  it('afternotok runs after a failure; afterok on it never does', async () => {
    const first = ['-o', 'nok-%j.out', '--wrap', 'exit 1'];
    const n1 = SUBMITTED.exec((await native(first)).stdout)![1]!;
    const m1 = SUBMITTED.exec((await meridian('sbatch', first)).stdout)![1]!;
    const n2 = SUBMITTED.exec((await native(['--dependency', `afternotok:${n1}`, '-o', 'nok-%j.out', '--wrap', 'echo recovered'])).stdout)![1]!;
    const m2 = SUBMITTED.exec((await meridian('sbatch', ['--dependency', `afternotok:${m1}`, '-o', 'nok-%j.out', '--wrap', 'echo recovered'])).stdout)![1]!;
    const m3 = SUBMITTED.exec((await meridian('sbatch', ['--dependency', `afterok:${m1}`, '--wrap', 'true'])).stdout)![1]!;
    const [nf, mf] = await Promise.all([nativeFinal(n2), meridianFinal(m2)]);
    record('afternotok: second job runs, same output', () => {
      expect(mf).toEqual(nf);
      expect(readFileSync(join(meridianDir, `nok-${m2}.out`), 'utf8')).toBe(readFileSync(join(nativeDir, `nok-${n2}.out`), 'utf8'));
    });
    // Slurm leaves such a job pending (DependencyNeverSatisfied); the hub ends it with that reason.
    expect((await meridianFinal(m3)).state).toBe('CANCELLED by 0');
    expect((await admin.get<{ reasonCode: string }>(`/api/v1/jobs/${m3}`)).body.reasonCode).toBe('DependencyNeverSatisfied');
  });

  it('scancel and squeue on a held job', async () => {
    const m = await meridian('sbatch', ['-H', '-p', 'gpu', '-J', 'held', '--wrap', 'true']);
    const mid = SUBMITTED.exec(m.stdout)![1]!;
    const q = await meridian('squeue', ['-h', '-j', mid, '-o', '%i %j %t %r']);
    record('held: squeue shows PD JobHeldUser', () => expect(q.stdout).toBe(`${mid} held PD JobHeldUser\n`));
    const c = await meridian('scancel', [mid]);
    record('held: scancel exits 0', () => expect([c.code, c.stderr]).toEqual([0, '']));
    const f = await meridianFinal(mid);
    record('held: CANCELLED after scancel', () => expect(f.state).toBe('CANCELLED by 0'));
    expect(existsSync(join(meridianDir, `slurm-${mid}.out`))).toBe(false);
    expect(readdirSync(meridianDir).length).toBeGreaterThan(0);
  });
  it('scontrol hold / release go through the hub', async () => {
    // H100 never fits this cluster, so the job stays Queued whatever the scheduler does.
    const sub = await admin.post<{ id: string }>('/api/v1/jobs', { name: 'to-hold', project: 'default', resources: { gpus: 1, gpuModels: ['H100'] }, workload: { image: 'busybox', command: ['true'] } });
    expect(sub.status).toBe(201);
    const id = sub.body.id;
    const h = await meridian('scontrol', ['hold', id]);
    expect([h.code, h.stderr]).toEqual([0, '']);
    expect((await admin.get<{ state: string; reasonCode: string }>(`/api/v1/jobs/${id}`)).body).toMatchObject({ state: 'Queued', reasonCode: 'JobHeldUser' });
    const r = await meridian('scontrol', ['release', id]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect((await admin.get<{ reasonCode: string }>(`/api/v1/jobs/${id}`)).body.reasonCode).not.toBe('JobHeldUser');
    const again = await meridian('scontrol', ['release', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^scontrol: error: Job is not held for job ${id}`));
    const unknown = await meridian('scontrol', ['hold', '999999999']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/Invalid job id specified/);
    expect((await admin.post(`/api/v1/jobs/${id}/cancel`)).status).toBe(202);
    const done = await meridian('scontrol', ['hold', id]);
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(/Job is no longer pending execution/);
  });
});
