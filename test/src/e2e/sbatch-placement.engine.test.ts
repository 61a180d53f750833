// Login-node jobs that land on a Kubernetes region: Meridian's sbatch → hub → the real edge-agent process →
// a KWOK cluster. KWOK runs no containers, so the Job and pod specs are checked (SLURM_* variables, the output
// wrapper, arrays as Indexed Jobs with %limit), and what squeue / sacct print from the hub. A federation without
// a Slurm cluster also shows the partition refusal and hub-side holds and dependencies.
import * as k8s from '@kubernetes/client-node';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { ADMIN_TOKEN, Api, FAST, waitFor } from '../hub/helpers.ts';
import { KubeAgentProcess } from './kubernetes-agents.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { RunDir } from '../harness/rundir.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { run } from '@meridian/slurm-bridge/login/spawn';
import { packagePath } from '../packages.ts';

const bin = packagePath('slurm-bridge', 'bin');
const NS = 'meridian-jobs';
const SUBMITTED = /^Submitted batch job (\d+)\n$/;

let pg: PostgresEngine;
let temporal: TemporalEngine;
let kube: KubeCluster;
let hub: Hub;
let api: Api;
let runDir: RunDir;
let agent: KubeAgentProcess;
let cwd: string;

const meridian = (cmd: string, args: string[]) => run(join(bin, cmd), args, { cwd, env: { ...process.env, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, MERIDIAN_PROJECT: 'default' } });
const submit = async (args: string[]): Promise<string> => {
  const r = await meridian('sbatch', args);
  expect(r.stdout, r.stderr).toMatch(SUBMITTED);
  return SUBMITTED.exec(r.stdout)![1]!;
};
const finished = (id: string) =>
  waitFor(`job ${id} finished`, async () => ((j) => (['Succeeded', 'Failed', 'Cancelled'].includes(j.state) ? j : undefined))((await api.get<{ state: string; cluster: string; reasonCode: string }>(`/api/v1/jobs/${id}`)).body), 90_000, 250);

beforeAll(async () => {
  [pg, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
  kube = await KubeCluster.start({ name: 'login-k8s', nodes: gpuPool('a100', 2, 8, 'NVIDIA-A100-SXM4-80GB') });
  hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, ...FAST });
  api = new Api(hub.url, ADMIN_TOKEN);
  runDir = RunDir.create('login-k8s');
  cwd = join(runDir.path, 'home');
  mkdirSync(cwd, { recursive: true });
  const c = await api.post<{ credential: string }>('/api/v1/clusters', { id: 'east', region: 'east', kind: 'kubernetes' });
  expect(c.status).toBe(201);
  agent = new KubeAgentProcess({ hubUrl: hub.url, clusterId: 'east', credential: c.body.credential, kubeconfigPath: kube.kubeconfigPath, runDir });
  await agent.start();
  await waitFor('inventory at the hub', async () => (await api.get<{ items: unknown[] }>('/api/v1/nodes?cluster=east')).body.items.length === 2, 60_000);
});

afterAll(async () => {
  await agent?.stop();
  await hub?.stop();
  await kube?.stop();
  await Promise.all([pg?.stop(), temporal?.stop()]);
  runDir?.remove();
});

describe('sbatch jobs placed on Kubernetes', () => {
  it('an array runs as an Indexed Job (%limit at once) with SLURM_* and its output where -o says; sacct has N_i rows', async () => {
    const id = await submit(['--array=0-3%2', '-J', 'sweep', '-o', 'sw-%A_%a.out', '--wrap', 'echo task $SLURM_ARRAY_TASK_ID']);
    expect(await finished(id)).toMatchObject({ state: 'Succeeded', cluster: 'east' });
    const job = (await kube.kubeConfig().makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace: NS, labelSelector: `meridian.dev/job-id=${id}` })).items[0]!;
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 4, parallelism: 2, backoffLimitPerIndex: 0 });
    const c = job.spec!.template.spec!.containers[0]!;
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ SLURM_JOB_ID: id, SLURM_JOB_NAME: 'sweep', SLURM_SUBMIT_DIR: cwd, SLURM_NTASKS: '1', SLURM_JOB_NUM_NODES: '1', SLURM_ARRAY_JOB_ID: id, SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' });
    expect(env.MERIDIAN_SLURM_SCRIPT).toContain('echo task $$SLURM_ARRAY_TASK_ID');
    expect(c.command![2]).toContain(`exec 1>"${cwd}/sw-${id}_$\${SLURM_ARRAY_TASK_ID}.out" 2>&1`);
    expect(job.spec!.template.spec!.volumes).toContainEqual({ name: 'slurm-dir-0', hostPath: { path: cwd, type: 'DirectoryOrCreate' } });
    const acct = await meridian('sacct', ['-P', '-n', '-X', '-j', id, '--format=JobID,State,ExitCode']);
    expect(acct.stdout).toBe([0, 1, 2, 3].map((i) => `${id}_${i}|COMPLETED|0:0\n`).join(''));
  });

  it('dependencies and holds hold at the hub for Kubernetes placements too', async () => {
    const first = await submit(['--wrap', 'true']);
    const second = await submit(['--dependency', `afterok:${first}`, '--wrap', 'true']);
    const held = await submit(['-H', '--wrap', 'true']);
    expect((await meridian('squeue', ['-h', '-j', held, '-o', '%t %r'])).stdout).toBe('PD JobHeldUser\n');
    expect(await finished(second)).toMatchObject({ state: 'Succeeded', cluster: 'east' });
    expect((await api.get<{ state: string }>(`/api/v1/jobs/${held}`)).body.state).toBe('Queued');
    expect((await meridian('scontrol', ['release', held])).code).toBe(0);
    expect(await finished(held)).toMatchObject({ state: 'Succeeded', cluster: 'east' });
  });

  it('a partition no Slurm cluster has is refused with sbatch\'s text; nothing is stored', async () => {
    const before = (await api.get<{ items: unknown[] }>('/api/v1/jobs')).body.items.length;
    const r = await meridian('sbatch', ['-p', 'gpu', '--wrap', 'true']);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', 'sbatch: error: invalid partition specified: gpu\nsbatch: error: Batch job submission failed: Invalid partition name specified\n']);
    expect((await api.get<{ items: unknown[] }>('/api/v1/jobs')).body.items.length).toBe(before);
  });
});
