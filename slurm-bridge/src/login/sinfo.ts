// sinfo: the Slurm members' nodes as the hub's inventory has them, one row per partition (the partitions
// `sbatch -p` accepts) and group of nodes alike in every printed field, or per node with -N. -o letters and
// -O names as Slurm 22.05 (protocol/src/slurm/fields.ts); %F %C %A %D %N and their -O names add up the group.
import { SINFO_LETTERS, SINFO_LONG_FIELDS } from '@meridian/protocol/slurm/fields';
import { SLURM_NODE_LABELS } from '@meridian/protocol/slurm/annotations';
import { getopt, OptError, optSpec } from './getopt.ts';
import { VERSION, type Io } from './io.ts';
import { HubError, hubClientFromEnv, type HubNode } from './hub-client.ts';
import { clusterScopes } from './clusters.ts';
import { parseLong, parsePercent, renderTable, type Column } from './columns.ts';
import { compressHostlist } from './hostlist.ts';

const SPEC = optSpec([
  ['h', 'noheader', 'noheader', false], ['N', 'Node', 'node', false], ['a', 'all', 'all', false], ['l', 'long', 'long', false],
  ['o', 'format', 'format', true], ['O', 'Format', 'Format', true], ['p', 'partition', 'partition', true], ['n', 'nodes', 'nodes', true],
  ['t', 'states', 'states', true], ['R', 'list-reasons', 'reasons', false], ['s', 'summarize', 'summarize', false], ['M', 'clusters', 'clusters', true],
  ['e', 'exact', 'exact', false], ['r', 'responding', 'responding', false], ['d', 'dead', 'dead', false], ['V', 'version', 'version', false],
  ['v', 'verbose', 'verbose', false], ['', 'noconvert', 'noconvert', false], ['', 'local', 'local', false], ['', 'federation', 'federation', false],
  ['i', 'iterate', 'iterate', true], ['S', 'sort', 'sort', true], ['', 'hide', 'hide', false],
]);

/** One node in one partition. */
export interface NodeRow {
  partition: string;
  name: string;
  cluster: string;
  cpus: number;
  allocCpus: number;
  memMiB: number;
  allocMemMiB: number;
  gpus: number;
  gpusUsed: number[];
  gpuModel?: string;
  features: string[];
  state: string;
  reason: string;
}

const LONG_STATE: Record<string, string> = { idle: 'idle', mix: 'mixed', alloc: 'allocated', drain: 'drained', drng: 'draining', down: 'down', comp: 'completing', resv: 'reserved', maint: 'maint', fail: 'fail', futr: 'future', unk: 'unknown' };
const longState = (s: string) => {
  const m = /^([a-z]+)(\W?)$/.exec(s);
  return m ? `${LONG_STATE[m[1]!] ?? m[1]}${m[2]}` : s;
};
const isAlloc = (s: string) => /^(alloc|mix|comp|drng)/.test(s);
const isOther = (s: string) => /^(drain|down|fail|maint|futr|unk)/.test(s) || /[~#%*]$/.test(s);

export function nodeRows(nodes: HubNode[]): NodeRow[] {
  return nodes.flatMap((n) => {
    const parts = (n.info.labels?.[SLURM_NODE_LABELS.partitions] ?? '').split(',').filter(Boolean);
    const used = (n.info.gpus ?? []).filter((g) => (g.milliUsed ?? 0) > 0).map((g) => g.index);
    const features = Object.keys(n.info.labels ?? {}).filter((k) => k.startsWith(SLURM_NODE_LABELS.featurePrefix)).map((k) => k.slice(SLURM_NODE_LABELS.featurePrefix.length));
    const state = n.info.state ?? (n.info.unschedulable ? 'drain' : !n.info.ready ? 'down' : 'idle');
    return parts.map((partition) => ({
      partition, name: n.name, cluster: n.clusterId, cpus: Math.round(n.info.capacity.cpuMilli / 1000), allocCpus: Math.round((n.info.requested?.cpuMilli ?? 0) / 1000),
      memMiB: n.info.capacity.memoryMiB, allocMemMiB: n.info.requested?.memoryMiB ?? 0, gpus: n.info.capacity.gpus, gpusUsed: used, gpuModel: n.info.gpuModel,
      features, state, reason: n.info.reason ?? 'none',
    }));
  });
}

const gres = (r: NodeRow) => (r.gpus ? `gpu:${r.gpuModel ? `${r.gpuModel}:` : ''}${r.gpus}` : '(null)');
const gresUsed = (r: NodeRow) => (r.gpus ? `gpu:${r.gpuModel ? `${r.gpuModel}:` : ''}${r.gpusUsed.length}(IDX:${r.gpusUsed.length ? compressIdx(r.gpusUsed) : 'N/A'})` : 'gpu:0');
function compressIdx(ix: number[]): string {
  return compressHostlist(ix.map((i) => `x${i}`)).replace(/^x\[?|\]$/g, '');
}

/** A group of node rows (one row with -N). */
type Group = NodeRow[];
const sum = (g: Group, f: (r: NodeRow) => number) => g.reduce((a, r) => a + f(r), 0);

/** Letter → value; the aggregate letters add up the group. */
const LETTER_VALUES: Record<string, (g: Group) => string> = {
  a: () => 'up', A: (g) => `${g.filter((r) => isAlloc(r.state)).length}/${g.filter((r) => r.state === 'idle').length}`, b: (g) => g[0]!.features.join(',') || '(null)',
  B: () => 'UNLIMITED', c: (g) => String(g[0]!.cpus), C: (g) => {
    const other = sum(g.filter((r) => isOther(r.state)), (r) => r.cpus);
    const alloc = sum(g.filter((r) => !isOther(r.state)), (r) => r.allocCpus);
    const total = sum(g, (r) => r.cpus);
    return `${alloc}/${total - alloc - other}/${other}/${total}`;
  },
  d: () => '0', D: (g) => String(g.length), e: (g) => String(g[0]!.memMiB - g[0]!.allocMemMiB), E: (g) => g[0]!.reason, f: (g) => g[0]!.features.join(',') || '(null)',
  F: (g) => {
    const other = g.filter((r) => isOther(r.state)).length;
    const alloc = g.filter((r) => !isOther(r.state) && isAlloc(r.state)).length;
    return `${alloc}/${g.length - alloc - other}/${other}/${g.length}`;
  },
  g: () => 'all', G: (g) => gres(g[0]!), h: () => 'NO', H: () => 'Unknown', I: () => '1', l: () => 'infinite', L: () => 'n/a', m: (g) => String(g[0]!.memMiB),
  M: () => 'OFF', n: (g) => compressHostlist(g.map((r) => r.name)), N: (g) => compressHostlist(g.map((r) => r.name)), o: (g) => g[0]!.name, O: () => 'N/A',
  p: () => '1', P: (g) => g[0]!.partition, r: () => 'no', R: (g) => g[0]!.partition, s: () => '1-infinite', S: () => 'all', t: (g) => g[0]!.state,
  T: (g) => longState(g[0]!.state), u: () => 'Unknown', U: () => 'Unknown', v: () => '22.05.8', V: (g) => g[0]!.cluster, w: () => '1', X: (g) => String(g[0]!.cpus),
  Y: () => '1', z: (g) => `${g[0]!.cpus}:1:1`, Z: () => '1',
};
const LONG_ONLY: Record<string, (g: Group) => string> = {
  AllocMem: (g) => String(sum(g, (r) => r.allocMemMiB)), Comment: () => '(null)', Extra: () => '(null)', GresUsed: (g) => gresUsed(g[0]!), Port: () => '0',
  StateComplete: (g) => longState(g[0]!.state), PartitionName: (g) => g[0]!.partition,
};
const AGGREGATE = new Set(['A', 'C', 'D', 'F', 'N', 'AllocMem', 'NodeAI', 'NodeAIOT', 'CPUsState', 'Nodes', 'NodeList']);

function lookupLong(name: string): ((g: Group) => string) | undefined {
  const letter = SINFO_LONG_FIELDS[name]?.letter;
  return LONG_ONLY[name] ?? (letter ? LETTER_VALUES[letter] : undefined);
}

export async function sinfoMain(io: Io): Promise<number> {
  let s;
  try {
    s = getopt('sinfo', io.argv, SPEC);
  } catch (err) {
    if (err instanceof OptError) return io.err(err.stderr), 1;
    throw err;
  }
  if (s.flags.has('version')) return io.out(VERSION), 0;
  const scopes = await clusterScopes(io, 'sinfo', s.values.get('clusters'));
  if (typeof scopes === 'number') return scopes;
  let nodes;
  try {
    nodes = (await hubClientFromEnv(io.env, 'sinfo').nodes()).items;
  } catch (err) {
    if (err instanceof HubError) return io.err(`sinfo: error: ${err.message}\n`), 1;
    throw err;
  }
  const byNode = s.flags.has('node');
  const long = s.values.get('Format') ?? (s.values.has('format') ? undefined : io.env.SINFO_FORMAT2);
  let cols: Column<Group>[];
  if (long !== undefined) {
    cols = parseLong(long, SINFO_LONG_FIELDS, lookupLong, (n) => io.err(`sinfo: error: Invalid job format specification: ${n}\n`));
  } else {
    const fmt = s.values.get('format') ?? io.env.SINFO_FORMAT ?? (s.flags.has('reasons') ? '%20E %9u %19H %N' : s.flags.has('summarize') ? '%9P %.5a %.10l %.16F  %N' : byNode ? '%10N %.5D %9P %6t' : '%9P %.5a %.10l %.6D %.6t %N');
    cols = parsePercent(fmt, SINFO_LETTERS, (l) => LETTER_VALUES[l], (l) => io.err(`Invalid node format specification: ${l}\n`));
  }
  const grouping = cols.filter((c) => !AGGREGATE.has(c.key ?? ''));
  const parts = s.values.get('partition')?.split(',');
  const only = s.values.get('nodes')?.split(',');
  const states = s.values.get('states')?.toLowerCase().split(',');
  const header = !s.flags.has('noheader');
  for (const scope of scopes ?? [undefined]) {
    let rows = nodeRows(nodes).filter((r) => (!scope?.members || scope.members.includes(r.cluster)) && (!parts || parts.includes(r.partition)) && (!only || only.includes(r.name)));
    if (states) rows = rows.filter((r) => states.some((st) => r.state.startsWith(st) || longState(r.state).startsWith(st)));
    if (s.flags.has('reasons')) rows = rows.filter((r) => isOther(r.state) && r.reason !== 'none');
    rows.sort((a, b) => a.partition.localeCompare(b.partition) || a.name.localeCompare(b.name, undefined, { numeric: true }));
    const groups = new Map<string, Group>();
    for (const r of rows) {
      const key = byNode ? `${r.partition}\u0000${r.name}` : [r.partition, ...grouping.map((c) => c.value([r]))].join('\u0000');
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    if (scope && header) io.out(`CLUSTER: ${scope.name}\n`); // with -h Slurm prints no CLUSTER line either
    io.out(renderTable(cols, [...groups.values()], header));
  }
  return 0;
}
