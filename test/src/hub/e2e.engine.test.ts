// End to end on real Postgres and Temporal, with a test agent speaking the real protocol:
// submit → placed → dispatch command → status → Succeeded, billed; plus cancel, cluster loss, node fault,
// tenancy, admission and the API's error shapes.
import { execFile } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { PrometheusEngine } from '../harness/prometheus.ts';
import { compressProto, encodeWriteRequestProto, REMOTE_WRITE_HEADERS } from '@meridian/protocol/telemetry/remote-write';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { TestAgent } from '../doubles/test-agent.ts';
import { workflowBundle } from '@meridian/hub/temporal/worker';
import { ADMIN_TOKEN, Api, FAST, helloJob, TEST_METRICS_TOKEN, waitFor } from './helpers.ts';
import { packagePath, repoPath } from '../packages.ts';

type Job = { id: string; state: string; cluster: string | null; reason: string | null; attempt: number; reasonCode: string | null };

describe('hub end to end', () => {
  let pg: PostgresEngine;
  let temporal: TemporalEngine;
  let prom: PrometheusEngine;
  let hub: Hub;
  let admin: Api;
  const agents: TestAgent[] = [];
  const credentials = new Map<string, string>();

  const addCluster = async (id: string, price: number, region = `${id}-region`): Promise<string> => {
    const r = await admin.post<{ credential: string }>('/api/v1/clusters', { id, region, kind: 'kubernetes', prices: { A100: { onDemand: price } } });
    expect(r.status).toBe(201);
    credentials.set(id, r.body.credential);
    return r.body.credential;
  };
  const agent = async (id: string, o: Partial<ConstructorParameters<typeof TestAgent>[0]> = {}): Promise<TestAgent> => {
    const a = new TestAgent({ hubUrl: hub.url, credential: credentials.get(id)!, clusterId: id, runMs: 300, ...o });
    agents.push(a);
    await a.start();
    return a;
  };
  const job = async (id: string): Promise<Job> => (await admin.get<Job>(`/api/v1/jobs/${id}`)).body;
  const until = (id: string, state: string, ms = 60_000): Promise<Job> => waitFor(`job ${id} ${state}`, async () => {
    const j = await job(id);
    if (['Succeeded', 'Failed', 'Cancelled'].includes(j.state) && j.state !== state) throw new Error(`job ${id} ended ${j.state}: ${j.reason}`);
    return j.state === state ? j : null;
  }, ms);

  /** Replays the job's recorded history against the current workflow code; RECORD_HISTORIES=1 saves it as a fixture. */
  const replayAndRecord = async (id: string, name: string, runId?: string): Promise<void> => {
    const conn = await Connection.connect({ address: temporal.address });
    const history = await new Client({ connection: conn }).workflow.getHandle(id, runId).fetchHistory();
    await conn.close();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, id);
    if (process.env.RECORD_HISTORIES) {
      const dir = packagePath('hub', 'src/temporal/histories/');
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}${name}.json`, JSON.stringify(proto.api.history.v1.History.toObject(proto.api.history.v1.History.fromObject(history), { longs: String, bytes: String, enums: String })));
    }
  };

  beforeAll(async () => {
    [pg, temporal, prom] = await Promise.all([PostgresEngine.start(), TemporalEngine.start(), PrometheusEngine.start()]);
    hub = await startHub({ databaseUrl: pg.url, temporalAddress: temporal.address, prometheusRemoteWriteUrl: prom.remoteWriteUrl, ...FAST });
    admin = new Api(hub.url, ADMIN_TOKEN);
    expect((await admin.post('/api/v1/projects', { name: 'ml' })).status).toBe(201);
    await addCluster('east', 2);
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await hub?.stop();
    await Promise.all([pg?.stop(), temporal?.stop(), prom?.stop()]);
  });

  it('runs a job from submit to Succeeded through the agent and bills it', async () => {
    const east = await agent('east', { runMs: 1500 });
    const sub = await admin.post<Job>('/api/v1/jobs', helloJob('hello-gpu'));
    expect(sub.status).toBe(201);
    expect(sub.body.id).toMatch(/^\d+$/);
    expect(sub.body.state).toBe('Queued');
    const id = sub.body.id;
    await waitFor('dispatch command', async () => east.dispatches.has(id));
    const cmd = east.commands.find((c) => c.command.kind === 'dispatch' && c.command.jobId === id)!.command;
    expect(cmd).toMatchObject({ kind: 'dispatch', jobId: id, attempt: 1, tasks: 1, perTask: { gpus: 1, cpuMilli: 2000, memoryMiB: 8192 }, gpuModel: 'A100', image: 'busybox' });
    const done = await until(id, 'Succeeded');
    expect(done).toMatchObject({ cluster: 'east', attempt: 1 });
    expect(east.dispatches.get(id)).toEqual([1]);
    const events = (await admin.get<{ items: { type: string }[] }>(`/api/v1/jobs/${id}/events`)).body.items.map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(['submitted', 'placed', 'dispatched', 'agent-status', 'finished']));
    const usage = (await admin.get<{ items: { jobId: string; gpuHours: number; usd: number; cluster: string }[] }>(`/api/v1/usage?job=${id}`)).body.items;
    expect(usage).toHaveLength(1);
    expect(usage[0]!.cluster).toBe('east');
    expect(usage[0]!.gpuHours).toBeGreaterThan(0);
    expect(usage[0]!.usd).toBeCloseTo(usage[0]!.gpuHours * 2, 6);
    await replayAndRecord(id, 'succeeded');
  });

  it('telemetry receiver: a cluster credential writes to Prometheus under its cluster and region; others get 401', async () => {
    const write = (token: string, value: number): Promise<Response> =>
      fetch(`${hub.url}/api/v1/telemetry/write`, {
        method: 'POST',
        headers: { ...REMOTE_WRITE_HEADERS, authorization: `Bearer ${token}` },
        body: compressProto(encodeWriteRequestProto({
          timeseries: [{ labels: [{ name: '__name__', value: 'meridian_e2e_probe' }, { name: 'cluster', value: 'spoofed' }, { name: 'gpu', value: '0' }], samples: [{ value, timestamp: Date.now() }] }],
        })),
      });
    const ok = await write(credentials.get('east')!, 42);
    expect(ok.status).toBe(204);
    const found = await waitFor('sample in Prometheus', async () => {
      const r = await prom.query('meridian_e2e_probe');
      return r.length ? r : null;
    }, 30_000, 250);
    expect(found).toHaveLength(1);
    expect(found[0]!.metric).toMatchObject({ cluster: 'east', region: 'east-region', gpu: '0' });
    expect(found[0]!.value[1]).toBe('42');
    const unknown = await write('mrc_not-a-credential', 1);
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { code: string }).code).toBe('unauthenticated');
    expect((await write(ADMIN_TOKEN, 1)).status).toBe(401); // a user token is not a cluster credential
  });

  it('node commands: POST .../nodes/{node}/{op} reaches the agent and its result is visible; the CLI waits for it', async () => {
    const east = agents[0]!;
    const sent = await admin.post<{ commandId: string }>('/api/v1/clusters/east/nodes/east-1/cordon', { reason: 'GPU XID 79' });
    expect(sent.status).toBe(202);
    expect(sent.body.commandId).toMatch(/^\d+$/);
    await waitFor('node command at the agent', async () => east.commands.find((c) => String(c.seq) === sent.body.commandId));
    expect(east.commands.find((c) => String(c.seq) === sent.body.commandId)!.command).toEqual({ kind: 'node', node: 'east-1', op: 'cordon', reason: 'GPU XID 79', timeoutSeconds: 120 });
    const done = await waitFor('command result', async () => {
      const c = (await admin.get<{ state: string; result: unknown }>(`/api/v1/clusters/east/commands/${sent.body.commandId}`)).body;
      return c.state === 'done' ? c : null;
    }, 30_000);
    expect(done.result).toMatchObject({ ok: true });
    const bad = await admin.post<{ details: { path: string }[] }>('/api/v1/clusters/east/nodes/east-1/taint', { reason: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.details.map((d) => d.path)).toContain('reason');
    const noTaint = await admin.post<{ details: { path: string }[] }>('/api/v1/clusters/east/nodes/east-1/taint', {});
    expect(noTaint.status).toBe(400);
    expect(noTaint.body.details[0]!.path).toBe('taint');
    expect((await admin.post('/api/v1/clusters/east/nodes/east-1/explode', {})).status).toBe(400);
    expect((await admin.post('/api/v1/clusters/nowhere/nodes/n1/drain', {})).status).toBe(404);
    expect((await admin.get('/api/v1/clusters/east/commands/999999')).status).toBe(404);
    const bin = packagePath('hub', 'bin/meridian.js');
    const env = { ...process.env, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: '/nonexistent' };
    const out = await promisify(execFile)(process.execPath, [bin, 'node', 'uncordon', 'east', 'east-1', '--reason', 'fixed', '--wait'], { env, timeout: 60_000 });
    expect(out.stdout).toMatch(/uncordon of east\/east-1 done/);
    expect(east.commands.at(-1)!.command).toMatchObject({ kind: 'node', node: 'east-1', op: 'uncordon', reason: 'fixed' });
  });

  it('explains pending jobs, streams events, serves logs, openapi and metrics', async () => {
    const pend = await admin.post<Job>('/api/v1/jobs', helloJob('wants-h100', { resources: { gpus: 1, gpuModels: ['H100'] } }));
    expect(pend.status).toBe(201);
    const why = await waitFor('pending reason', async () => {
      const w = (await admin.get<{ reasonCode: string; reason: string }>(`/api/v1/jobs/${pend.body.id}/why`)).body;
      return w.reasonCode && w.reasonCode !== 'New' ? w : null;
    });
    expect(why.reasonCode).toBe('NoGPUModel');
    expect(why.reason).toMatch(/H100/);
    const c = await admin.post(`/api/v1/jobs/${pend.body.id}/cancel`);
    expect(c.status).toBe(202);
    await until(pend.body.id, 'Cancelled');
    // SSE: the stream ends with the final state.
    const res = await fetch(`${hub.url}/api/v1/jobs/${pend.body.id}/events/stream`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await res.text();
    expect(text).toMatch(/event: job/);
    expect(text).toMatch(/event: end\ndata: \{"state":"Cancelled"\}/);
    const first = (await admin.get<{ items: Job[] }>('/api/v1/jobs?state=Succeeded')).body.items.at(-1)!;
    const logs = await admin.get(`/api/v1/jobs/${first.id}/logs`);
    expect(logs.status).toBe(200);
    expect(String(logs.body)).toMatch(/hello from the test agent/);
    const doc = await new Api(hub.url, null).get<{ openapi: string; paths: Record<string, unknown> }>('/api/v1/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/v1/jobs', '/api/v1/jobs/{id}', '/api/v1/clusters', '/api/v1/clusters/{id}/nodes/{node}/{op}', '/api/v1/clusters/{id}/commands/{commandId}']));
    expect((await fetch(`${hub.url}/metrics`)).status).toBe(401);
    const metrics = await (await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } })).text();
    // no project names unless the operator turns them on (revocation.engine.test.ts covers the opt-in)
    expect(metrics).toMatch(/meridian_jobs\{state="Succeeded",tier="batch"\} [1-9]/);
    expect(metrics).not.toContain('project="ml"');
    expect(metrics).toMatch(/meridian_gpus\{cluster="east",model="A100",status="free"\} 16/);
    expect(metrics).toMatch(/meridian_agent_connected\{cluster="east"\} 1/);
    expect(metrics).toMatch(/meridian_scheduler_cycle_seconds_count [1-9]/);
  });

  it('cancel reaches the cluster for a running job', async () => {
    const a = agents[0]!;
    const r = await admin.post<Job>('/api/v1/jobs', helloJob('long', { annotations: { hold: 'yes' } }));
    a.o.hold = (cmd) => cmd.annotations.hold === 'yes';
    await until(r.body.id, 'Running');
    // Status noise must not grow the history without bound: many wakes → continue-as-new, same workflow ID.
    const conn = await Connection.connect({ address: temporal.address });
    const handle = new Client({ connection: conn }).workflow.getHandle(r.body.id);
    const firstRun = (await handle.describe()).runId;
    // Signals that arrive together share one workflow task, so keep signalling until the run rolls over.
    const secondRun = await waitFor('continue-as-new', async () => {
      await handle.signal('wake');
      const d = await handle.describe();
      return d.runId !== firstRun ? d.runId : null;
    }, 90_000, 100);
    await replayAndRecord(r.body.id, 'continued-as-new', firstRun);
    expect((await admin.post(`/api/v1/jobs/${r.body.id}/cancel`)).status).toBe(202);
    const j = await until(r.body.id, 'Cancelled');
    expect((await new Client({ connection: conn }).workflow.getHandle(r.body.id, secondRun).describe()).status.name).toBe('COMPLETED');
    await replayAndRecord(r.body.id, 'cancelled-running');
    await conn.close();
    expect(j.reason).toBe('cancelled by user');
    expect(a.cancels).toContainEqual({ jobId: r.body.id, attempt: 1 });
    expect((await admin.post(`/api/v1/jobs/${r.body.id}/cancel`)).status).toBe(409);
  });

  it('requeues elsewhere when a node faults or the cluster is lost', async () => {
    await addCluster('west', 1);
    const west = await agent('west', {
      hold: (cmd) => cmd.annotations.scenario === 'lost',
      outcome: (cmd) =>
        cmd.annotations.scenario === 'fault' && cmd.attempt === 1 ? { phase: 'Failed', exitCode: 137, reason: 'GPUFault: XID 79 on GPU 0' } : { phase: 'Succeeded', exitCode: 0 },
    });
    // west is cheaper: cost-first puts both jobs there. A node fault requeues instead of failing the job.
    const fault = await admin.post<Job>('/api/v1/jobs', helloJob('fault', { annotations: { scenario: 'fault' }, placement: { policy: 'cost-first' } }));
    const fdone = await until(fault.body.id, 'Succeeded');
    expect(fdone.attempt).toBe(2);
    expect(west.dispatches.get(fault.body.id)).toEqual([1, 2]);

    const lost = await admin.post<Job>('/api/v1/jobs', helloJob('lost', { annotations: { scenario: 'lost' }, placement: { policy: 'cost-first' } }));
    const running = await until(lost.body.id, 'Running');
    expect(running.cluster).toBe('west');
    await west.stop(); // the cluster goes silent
    const requeued = await waitFor('lost job on a new attempt', async () => {
      const j = await job(lost.body.id);
      return j.attempt === 2 ? j : null;
    }, 30_000);
    expect(requeued.attempt).toBe(2);
    const done = await until(lost.body.id, 'Succeeded');
    expect(done.cluster).toBe('east');
    await replayAndRecord(lost.body.id, 'cluster-lost-requeued');
    await replayAndRecord(fault.body.id, 'node-fault-requeued');
    const clusters = (await admin.get<{ items: { id: string; status: string }[] }>('/api/v1/clusters')).body.items;
    expect(clusters.find((c) => c.id === 'west')!.status).toBe('lost');
  });

  it('enforces tenancy, roles, admission and field-named errors', async () => {
    expect((await admin.post('/api/v1/projects', { name: 'other', maxPending: 2 })).status).toBe(201);
    const mk = async (name: string, projects: Record<string, string>): Promise<Api> => {
      expect((await admin.post('/api/v1/users', { name, projects })).status).toBe(201);
      const t = await admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, { name: 'test' });
      return admin.as(t.body.token);
    };
    const alice = await mk('alice', { ml: 'member' });
    const bob = await mk('bob', { other: 'member' });
    const vic = await mk('vic', { ml: 'viewer' });
    const aj = await alice.post<Job>('/api/v1/jobs', helloJob('alice-job'));
    expect(aj.status).toBe(201);
    expect((await bob.get(`/api/v1/jobs/${aj.body.id}`)).status).toBe(404);
    expect((await bob.get<{ items: Job[] }>('/api/v1/jobs')).body.items).toEqual([]);
    expect((await bob.post(`/api/v1/jobs/${aj.body.id}/cancel`)).status).toBe(404);
    expect((await vic.get(`/api/v1/jobs/${aj.body.id}`)).status).toBe(200);
    const vs = await vic.post<{ details: { path: string }[] }>('/api/v1/jobs', helloJob('nope'));
    expect(vs.status).toBe(403);
    expect(vs.body.details[0]!.path).toBe('project');
    expect((await bob.post('/api/v1/projects', { name: 'mine' })).status).toBe(403);
    expect((await new Api(hub.url, 'mrd_wrong').get('/api/v1/jobs')).status).toBe(401);
    expect((await new Api(hub.url, null).get('/api/v1/jobs')).status).toBe(401);

    // admission: project "other" holds 2 queued jobs at most (H100 never fits here, so they stay queued)
    const h100 = helloJob('q', { project: 'other', resources: { gpus: 1, gpuModels: 'H100' } });
    expect((await bob.post('/api/v1/jobs', h100)).status).toBe(201);
    expect((await bob.post('/api/v1/jobs', h100)).status).toBe(201);
    const full = await bob.post<{ code: string }>('/api/v1/jobs', h100);
    expect(full.status).toBe(429);
    expect(full.body.code).toBe('queue_full');
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);

    const bad = await alice.post<{ code: string; details: { path: string; message: string }[] }>('/api/v1/jobs', { name: 'Bad Name', resources: { gpus: -1, colour: 1 }, workload: {} });
    expect(bad.status).toBe(400);
    const paths = bad.body.details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'resources.gpus', 'resources', 'workload.image']));
    const huge = await alice.post('/api/v1/jobs', helloJob('huge', { annotations: { blob: 'x'.repeat(400 * 1024) } }));
    expect(huge.status).toBe(413);
    const yaml = await alice.req<Job>('POST', '/api/v1/jobs', 'name: from-yaml\nproject: ml\nresources: {gpus: 1}\nworkload: {image: busybox}\n', { 'content-type': 'application/yaml' });
    expect(yaml.status).toBe(201);
    const list = await alice.get<{ items: Job[]; nextCursor: string | null }>('/api/v1/jobs?limit=2');
    expect(list.body.items).toHaveLength(2);
    const next = await alice.get<{ items: Job[] }>(`/api/v1/jobs?limit=2&cursor=${list.body.nextCursor}`);
    expect(Number(next.body.items[0]!.id)).toBeLessThan(Number(list.body.items[1]!.id));
    const badq = await alice.get<{ details: { path: string }[] }>('/api/v1/jobs?state=Exploded');
    expect(badq.status).toBe(400);
    expect(badq.body.details[0]!.path).toMatch(/^query\.state/);
  });

  it('the meridian CLI submits --wait: exit 0 on success, non-zero with the reason on failure', async () => {
    const bin = packagePath('hub', 'bin/meridian.js');
    const example = repoPath('examples/jobs/hello-gpu.yaml');
    const env = { ...process.env, MERIDIAN_URL: hub.url, MERIDIAN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: '/nonexistent' };
    const run = promisify(execFile);
    const ok = await run(process.execPath, [bin, 'job', 'submit', example, '--wait', '--timeout', '2m'], { env, cwd: '/', timeout: 90_000 });
    expect(ok.stdout).toMatch(/submitted job \d+ \(hello-gpu, project default\)/);
    expect(ok.stdout).toMatch(/succeeded on east/);
    agents[0]!.o.outcome = (cmd) => (cmd.name === 'doomed' ? { phase: 'Failed', exitCode: 3, reason: 'Error: exit code 3' } : { phase: 'Succeeded', exitCode: 0 });
    const bad = await run(process.execPath, [bin, 'job', 'submit', example, '--name', 'doomed', '--wait'], { env, timeout: 90_000 }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toMatch(/Failed: Error: exit code 3 \(exit code 3\)/);
    const pending = run(process.execPath, [bin, 'job', 'submit', '-', '--wait'], { env, timeout: 60_000 });
    pending.child.stdin?.end('name: Bad Name\nworkload: {}\n');
    const invalid = await pending.then(() => null, (e: { code: number; stderr: string }) => e);
    expect(invalid?.code).toBe(1);
    // the CLI checks the spec with the hub's own validator before it sends anything
    expect(invalid?.stderr).toMatch(/-: invalid job spec\n {2}name: use lowercase[^]*workload\.image: give a container image/);
    const list = await run(process.execPath, [bin, 'job', 'list', '--state', 'Failed'], { env });
    expect(list.stdout).toMatch(/doomed/);
    const nodes = await run(process.execPath, [bin, 'nodes', '--cluster', 'east'], { env });
    expect(nodes.stdout).toMatch(/east-0\s+A100\s+8/);
  });
  it('hold keeps a Queued job out of scheduling (JobHeldUser) until release; only Queued jobs can be held', async () => {
    const h100 = (name: string): Record<string, unknown> => helloJob(name, { resources: { gpus: 1, gpuModels: ['H100'] } });
    const held = await admin.post<Job>('/api/v1/jobs', h100('held-h100'));
    await waitFor('NoGPUModel', async () => (await job(held.body.id)).reasonCode === 'NoGPUModel');
    const h = await admin.post<Job>(`/api/v1/jobs/${held.body.id}/hold`);
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ state: 'Queued', reasonCode: 'JobHeldUser' });
    expect((await admin.post<{ message: string }>(`/api/v1/jobs/${held.body.id}/hold`)).status).toBe(200); // idempotent
    // H100s appear: a control job that is not held gets placed, the held one stays Queued and held.
    await addCluster('hopper', 50);
    const hopper = await agent('hopper', { gpuModel: 'H100', nodes: 1, gpusPerNode: 8 });
    const control = await admin.post<Job>('/api/v1/jobs', h100('control-h100'));
    expect((await until(control.body.id, 'Succeeded')).cluster).toBe('hopper');
    await new Promise((r) => setTimeout(r, 1500)); // three more scheduler cycles
    expect(await job(held.body.id)).toMatchObject({ state: 'Queued', reasonCode: 'JobHeldUser' });
    expect(hopper.dispatches.has(held.body.id)).toBe(false);
    expect((await admin.get<{ reasonCode: string }>(`/api/v1/jobs/${held.body.id}/why`)).body.reasonCode).toBe('JobHeldUser');
    const rel = await admin.post<Job>(`/api/v1/jobs/${held.body.id}/release`);
    expect(rel.status).toBe(200);
    expect((await until(held.body.id, 'Succeeded')).cluster).toBe('hopper');
    const notQueued = await admin.post<{ code: string; message: string }>(`/api/v1/jobs/${held.body.id}/hold`);
    expect(notQueued.status).toBe(409);
    expect(notQueued.body.message).toMatch(/only Queued jobs can be held; job \d+ is Succeeded/);
    const notHeld = await admin.post<{ message: string }>(`/api/v1/jobs/${control.body.id}/release`);
    expect(notHeld.status).toBe(409);
    expect(notHeld.body.message).toMatch(/not held/);
    const events = (await admin.get<{ items: { type: string }[] }>(`/api/v1/jobs/${held.body.id}/events`)).body.items.map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(['held', 'released', 'placed']));
  });
});
