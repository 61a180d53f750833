// Does `meridian nodes` say what the member says? Per node, GPUs in all and GPUs in use, three ways: the hub
// (the CLI's own columns, from /api/v1/nodes or the real `meridian nodes`), Slurm (`sinfo -N -O
// NodeList,Gres,GresUsed`) and Kubernetes (`kubectl describe nodes`: allocatable, and "Allocated resources", the
// requests of every non-terminated pod). The hub is given up to 10 s to catch up; a disagreement after that
// fails with both views side by side.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { NodeInfo } from '@meridian/protocol/agent-protocol';
import { ADMIN_TOKEN } from '../hub/helpers.ts';
import { packagePath } from '../packages.ts';

/** node → GPUs in all and in use. */
export type GpuView = Record<string, { gpus: number; used: number }>;

/** The columns `meridian nodes` prints (gpus: allocatable; used: GPUs with any milli-GPU in use), from NodeInfo. */
export function meridianView(nodes: Pick<NodeInfo, 'name' | 'allocatable' | 'gpus'>[]): GpuView {
  return Object.fromEntries(nodes.map((n) => [n.name, { gpus: n.allocatable.gpus, used: n.gpus.filter((g) => g.milliUsed > 0).length }]));
}

/** What the hub serves to `meridian nodes --cluster <cluster>` (the same request the CLI makes). */
export async function hubView(hubUrl: string, cluster: string): Promise<GpuView> {
  const r = await fetch(`${hubUrl}/api/v1/nodes?cluster=${encodeURIComponent(cluster)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!r.ok) throw new Error(`GET /api/v1/nodes?cluster=${cluster}: ${r.status} ${await r.text()}`);
  return meridianView(((await r.json()) as { items: { name: string; info: NodeInfo }[] }).items.map((i) => ({ ...i.info, name: i.name })));
}

/** The real `meridian nodes --cluster <cluster>` table, read back by its header. */
export async function cliView(hubUrl: string, cluster: string): Promise<GpuView> {
  const env = { ...process.env, MERIDIAN_URL: hubUrl, MERIDIAN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: '/nonexistent' };
  const { stdout } = await promisify(execFile)(process.execPath, [packagePath('hub', 'bin/meridian.js'), 'nodes', '--cluster', cluster], { env, timeout: 60_000 });
  const [head, ...rows] = stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const col = (name: string) => {
    const i = head!.indexOf(name);
    if (i < 0) throw new Error(`meridian nodes printed no ${name} column:\n${stdout}`);
    return i;
  };
  const [node, gpus, used] = [col('NODE'), col('GPUS'), col('USED')];
  return Object.fromEntries(rows.filter((r) => r.length > used).map((r) => [r[node]!, { gpus: Number(r[gpus]), used: Number(r[used]) }]));
}

/** `0-1,3` → [0, 1, 3]. */
function indices(list: string): number[] {
  return list.split(',').flatMap((p) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    return m ? Array.from({ length: Number(m[2] ?? m[1]) - Number(m[1]) + 1 }, (_, k) => Number(m[1]) + k) : [];
  });
}

/**
 * `sinfo -N -h -O NodeList,Gres,GresUsed` → per node the GPUs of its Gres and the GPUs in use: those whole-GPU
 * jobs hold (IDX list) joined with those any job holds shards of (a GPU with a shard in use cannot be given whole).
 * Written here, apart from the agent's parser, so the two are checked against each other.
 */
export function parseSinfoGpus(text: string): GpuView {
  const view: GpuView = {};
  for (const line of text.split('\n')) {
    const [name, gres, used] = line.trim().split(/\s+/);
    if (!name || gres === undefined || used === undefined) continue;
    const entries = (s: string) => s.match(/(?:gpu|shard)(?::[^:,(]+)?(?::\d+)?(?:\([^)]*\))?/g) ?? [];
    const total = entries(gres).filter((e) => e.startsWith('gpu')).reduce((a, e) => a + Number(/:(\d+)(?:\(|$)/.exec(e)?.[1] ?? 0), 0);
    const busy = new Set<number>();
    let unindexed = 0;
    for (const e of entries(used)) {
      const count = Number(/:(\d+)(?:\(|$)/.exec(e)?.[1] ?? 0);
      const inner = /\((.*)\)$/.exec(e)?.[1] ?? '';
      let idx = inner.startsWith('IDX:') ? indices(inner.slice(4)) : [];
      if (!idx.length && /^\d+\/\d+/.test(inner)) idx = inner.split(',').flatMap((u, i) => (Number(u.split('/')[0]) > 0 ? [i] : []));
      if (idx.length) idx.forEach((i) => busy.add(i));
      else if (count > 0) unindexed += e.startsWith('gpu') ? count : 1;
    }
    view[name] = { gpus: total, used: Math.min(total, busy.size + unindexed) };
  }
  return view;
}

/** A harness Slurm cluster, or anything that runs Slurm's own CLI against one. */
export interface SlurmCli {
  run(command: string, args: string[]): { code: number; stdout: string; stderr: string };
}

/** Native sinfo, wide columns so no GRES string is cut. */
export function sinfoView(slurm: SlurmCli): { view: GpuView; raw: string } {
  const r = slurm.run('sinfo', ['-N', '-h', '-O', 'NodeList:40,Gres:200,GresUsed:200']);
  if (r.code !== 0) throw new Error(`sinfo failed (exit ${r.code}): ${r.stderr}`);
  return { view: parseSinfoGpus(r.stdout), raw: r.stdout };
}

/**
 * `kubectl describe nodes` → per node allocatable GPUs and GPUs requested by its non-terminated pods. Whole GPUs
 * are `gpuResource`; time-sliced GPUs are `sharedResource` replicas, `replicas` to a GPU, a GPU in use as soon as
 * one replica is.
 */
export function parseDescribeGpus(text: string, o: { gpuResource?: string; sharedResource?: string; replicas?: number } = {}): GpuView {
  const gpu = o.gpuResource ?? 'nvidia.com/gpu';
  const shared = o.sharedResource ?? 'nvidia.com/gpu.shared';
  const R = o.replicas ?? 10;
  const view: GpuView = {};
  for (const block of text.split(/^Name:\s+/m).slice(1)) {
    const name = block.split('\n')[0]!.trim();
    const section = (title: string) => new RegExp(`^${title}:\\n((?:[ \\t].*\\n?)*)`, 'm').exec(block)?.[1] ?? '';
    const amount = (sec: string, res: string) => Number(new RegExp(`^\\s+${res.replace(/\./g, '\\.')}:?\\s+(\\d+)`, 'm').exec(sec)?.[1] ?? 0);
    const alloc = section('Allocatable');
    const requested = section('Allocated resources');
    view[name] = {
      gpus: amount(alloc, gpu) + Math.floor(amount(alloc, shared) / R),
      used: amount(requested, gpu) + Math.ceil(amount(requested, shared) / R),
    };
  }
  return view;
}

export function describeView(kubeconfig: string): { view: GpuView; raw: string } {
  const raw = execFileSync('kubectl', ['--kubeconfig', kubeconfig, 'describe', 'nodes'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { view: parseDescribeGpus(raw), raw };
}

const same = (a: GpuView, b: GpuView): boolean => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

export interface AgreementSpec {
  /** What `meridian nodes` shows: hubView/meridianView; with `cli`, the real CLI is read too once they agree. */
  meridian: () => Promise<GpuView>;
  /** The member's own view (sinfoView / describeView), read again on every try. */
  native: () => { view: GpuView; raw: string };
  cli?: () => Promise<GpuView>;
  /** How long the hub may take to catch up (default 10 s). */
  ms?: number;
}

/**
 * Polls until Meridian and the member agree on every node's GPUs (and, with `cli`, the printed table agrees too);
 * returns the agreed view. Throws after `ms` with both views and the member's raw output.
 */
export async function expectAgreement(what: string, spec: AgreementSpec): Promise<GpuView> {
  const deadline = Date.now() + (spec.ms ?? 10_000);
  let last = { meridian: {} as GpuView, native: { view: {} as GpuView, raw: '' }, cli: undefined as GpuView | undefined };
  for (;;) {
    const native = spec.native();
    const meridian = await spec.meridian();
    last = { meridian, native, cli: undefined };
    if (same(meridian, native.view)) {
      if (!spec.cli) return meridian;
      const cli = await spec.cli();
      last.cli = cli;
      if (same(cli, spec.native().view)) return meridian;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${what}: meridian nodes and the member disagree after ${spec.ms ?? 10_000} ms\n` +
      `meridian: ${JSON.stringify(last.meridian)}\n${last.cli ? `meridian nodes (CLI): ${JSON.stringify(last.cli)}\n` : ''}` +
      `member:   ${JSON.stringify(last.native.view)}\n${last.native.raw}`,
  );
}

/** The usual pairing: a hub's cluster against a harness Slurm cluster. */
export const slurmAgreement = (hubUrl: string, cluster: string, slurm: SlurmCli): AgreementSpec => ({
  meridian: () => hubView(hubUrl, cluster),
  native: () => sinfoView(slurm),
  cli: () => cliView(hubUrl, cluster),
});

/** The usual pairing: a hub's cluster against a Kubernetes region. */
export const kubeAgreement = (hubUrl: string, cluster: string, kubeconfig: string): AgreementSpec => ({
  meridian: () => hubView(hubUrl, cluster),
  native: () => describeView(kubeconfig),
  cli: () => cliView(hubUrl, cluster),
});
