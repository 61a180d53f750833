// Hot state: the latest value of every GPU / NIC / node series the hub received, and their health, for the
// scheduler (filter out unhealthy GPUs), the portal and the remediation workflow. In memory; rebuilt within
// one scrape interval after a hub restart.
import { GPU_METRICS, L, M } from '@meridian/protocol/telemetry/metric-names';
import type { Label } from '@meridian/protocol/telemetry/remote-write';
import { emptyNicHistory, evaluateGpu, evaluateNic, evaluateNodeGpuCount, summarize } from './health.ts';
import type { Finding, GpuObservation, NicHistory, NicObservation, Verdict } from './health.ts';

export type EntityKind = 'gpu' | 'nic' | 'node';

export interface Value {
  value: number;
  /** sample timestamp, ms */
  at: number;
}

interface Common {
  key: string;
  cluster: string;
  region: string;
  hostname: string;
  simulated: boolean;
  values: Map<string, Value>;
  updatedAt: number;
  verdict: Verdict;
  /** event findings (XIDs, counters that rose) held until cleared or expired */
  held: Finding[];
  dirty: boolean;
  /** set when forgotten: handles pointing here re-resolve */
  removed?: boolean;
}

/** A series' resolved place in the hot state (cache it per series; see HotState.handleFor). */
export interface HotHandle {
  labels: Label[];
  entry: Entry;
  /** 'value': a plain metric; 'xid': meridian_gpu_xid_errors_total; 'link': meridian_gpu_nvlink_link_up */
  kind: 'value' | 'xid' | 'link';
  name: string;
  num: number;
  job: Record<string, string> | null;
}

interface GpuEntry extends Common {
  kind: 'gpu';
  uuid: string;
  index: string;
  modelName: string;
  pciBusId: string;
  job: Record<string, string>;
  xidCounts: Record<number, number>;
  nvlinkUp: Record<number, number>;
  prev?: GpuObservation;
}

interface NicEntry extends Common {
  kind: 'nic';
  device: string;
  port: string;
  boardId: string;
  history: NicHistory;
}

interface NodeEntry extends Common {
  kind: 'node';
}

type Entry = GpuEntry | NicEntry | NodeEntry;

export interface EntityView {
  kind: EntityKind;
  key: string;
  cluster: string;
  region: string;
  hostname: string;
  simulated: boolean;
  /** latest value per metric name */
  metrics: Record<string, number>;
  updatedAt: number;
  stale: boolean;
  health: Verdict;
}

export interface GpuView extends EntityView {
  kind: 'gpu';
  uuid: string;
  gpu: string;
  modelName: string;
  pciBusId: string;
  /** namespace / pod / container / slurm_job_id / meridian_job_id / project, when the GPU runs a job */
  job: Record<string, string>;
  xidCounts: Record<number, number>;
}

export interface NicView extends EntityView {
  kind: 'nic';
  device: string;
  port: string;
  boardId: string;
}

export type NodeView = EntityView & { kind: 'node' };

export interface HealthChange {
  kind: EntityKind;
  key: string;
  cluster: string;
  hostname: string;
  uuid?: string;
  previous: Verdict;
  current: Verdict;
}

export interface HotStateOptions {
  /** how long an event finding (an XID, a counter that rose) keeps its verdict without being cleared (default 15 min) */
  eventHoldMs?: number;
  /** a view is `stale` when not updated for this long (default 2 min) */
  staleAfterMs?: number;
  /** entities not updated for this long are forgotten (default 1 h) */
  forgetAfterMs?: number;
  onHealthChange?: (change: HealthChange) => void;
}

const NODE_METRICS = new Set<string>([M.gpusVisible, M.gpusExpected, M.nvmlUp]);
const JOB_LABELS = [L.namespace, L.pod, L.container, L.slurmJobId, L.jobId, L.project];
const HEALTHY: Verdict = { status: 'healthy', action: 'none', findings: [] };

function get(labels: Label[], name: string): string | undefined {
  for (const l of labels) if (l.name === name) return l.value;
  return undefined;
}

export class HotState {
  private readonly entries = new Map<string, Entry>();
  private readonly holdMs: number;
  private readonly staleMs: number;
  private readonly forgetMs: number;
  private readonly dirty = new Set<Entry>();
  private lastSweep = 0;

  constructor(private readonly opts: HotStateOptions = {}) {
    this.holdMs = opts.eventHoldMs ?? 15 * 60_000;
    this.staleMs = opts.staleAfterMs ?? 120_000;
    this.forgetMs = opts.forgetAfterMs ?? 3_600_000;
  }

  /**
   * Resolves a (tenant-labelled) series to its GPU / NIC / node entry once, so that later samples of the
   * same series skip label lookups; null when the series is not one the hot state keeps.
   */
  handleFor(labels: Label[], at: number): HotHandle | null {
    const name = labels.find((l) => l.name === '__name__')?.value;
    if (name === undefined) return null;
    const uuid = get(labels, L.uuid);
    if (uuid !== undefined) {
      const e = this.gpuEntry(labels, uuid, at);
      const job: Record<string, string> = {};
      for (const n of JOB_LABELS) {
        const v = get(labels, n);
        if (v !== undefined) job[n] = v;
      }
      if (name === M.xidTotal) return { labels, entry: e, kind: 'xid', name, num: Number(get(labels, L.xid)), job };
      if (name === M.nvlinkUp) return { labels, entry: e, kind: 'link', name, num: Number(get(labels, L.link)), job };
      return { labels, entry: e, kind: 'value', name, num: 0, job };
    }
    if (name.startsWith('meridian_rdma_')) {
      const device = get(labels, L.device);
      const port = get(labels, L.port);
      if (device === undefined || port === undefined) return null;
      return { labels, entry: this.nicEntry(labels, device, port, at), kind: 'value', name, num: 0, job: null };
    }
    if (NODE_METRICS.has(name)) return { labels, entry: this.nodeEntry(labels, at), kind: 'value', name, num: 0, job: null };
    return null;
  }

  /** Records the latest sample of a series through its handle (re-resolving if the entry was forgotten). */
  observeHandle(h: HotHandle, value: number, at: number): HotHandle {
    if (h.entry.removed) {
      const again = this.handleFor(h.labels, at);
      if (!again) return h;
      h = again;
    }
    const e = h.entry;
    if (h.kind === 'xid') {
      if (Number.isFinite(h.num)) (e as GpuEntry).xidCounts[h.num] = value;
    } else if (h.kind === 'link') {
      if (Number.isFinite(h.num)) (e as GpuEntry).nvlinkUp[h.num] = value;
    } else e.values.set(h.name, { value, at });
    if (h.job && e.kind === 'gpu' && at >= e.updatedAt) e.job = h.job;
    this.touch(e, at);
    return h;
  }

  /** Records the latest sample of one (tenant-labelled) series, if it is a GPU, NIC or node series. */
  observe(labels: Label[], value: number, at: number): void {
    const name = labels.find((l) => l.name === '__name__')?.value;
    if (name === undefined) return;
    const uuid = get(labels, L.uuid);
    if (uuid !== undefined) {
      const e = this.gpuEntry(labels, uuid, at);
      if (name === M.xidTotal) {
        const xid = Number(get(labels, L.xid));
        if (Number.isFinite(xid)) e.xidCounts[xid] = value;
      } else if (name === M.nvlinkUp) {
        const link = Number(get(labels, L.link));
        if (Number.isFinite(link)) e.nvlinkUp[link] = value;
      } else {
        e.values.set(name, { value, at });
      }
      return;
    }
    if (name.startsWith('meridian_rdma_')) {
      const device = get(labels, L.device);
      const port = get(labels, L.port);
      if (device === undefined || port === undefined) return;
      const e = this.nicEntry(labels, device, port, at);
      e.values.set(name, { value, at });
      return;
    }
    if (NODE_METRICS.has(name)) {
      const e = this.nodeEntry(labels, at);
      e.values.set(name, { value, at });
    }
  }

  private common(labels: Label[], key: string, at: number): Omit<Common, 'key'> & { key: string } {
    return {
      key,
      cluster: get(labels, L.cluster) ?? '',
      region: get(labels, L.region) ?? '',
      hostname: get(labels, L.hostname) ?? '',
      simulated: get(labels, L.simulated) === 'true',
      values: new Map(),
      updatedAt: at,
      verdict: HEALTHY,
      held: [],
      dirty: false,
    };
  }

  private touch(e: Entry, at: number): void {
    if (at > e.updatedAt) e.updatedAt = at;
    if (!e.dirty) {
      e.dirty = true;
      this.dirty.add(e);
    }
  }

  private gpuEntry(labels: Label[], uuid: string, at: number): GpuEntry {
    const key = `gpu/${get(labels, L.cluster) ?? ''}/${uuid}`;
    let e = this.entries.get(key) as GpuEntry | undefined;
    if (!e) {
      e = {
        ...this.common(labels, key, at),
        kind: 'gpu',
        uuid,
        index: get(labels, L.gpu) ?? '',
        modelName: get(labels, L.modelName) ?? '',
        pciBusId: get(labels, L.pciBusId) ?? '',
        job: {},
        xidCounts: {},
        nvlinkUp: {},
      };
      this.entries.set(key, e);
    }
    if (at >= e.updatedAt) {
      const job: Record<string, string> = {};
      for (const n of JOB_LABELS) {
        const v = get(labels, n);
        if (v !== undefined) job[n] = v;
      }
      e.job = job;
      e.hostname = get(labels, L.hostname) ?? e.hostname;
    }
    this.touch(e, at);
    return e;
  }

  private nicEntry(labels: Label[], device: string, port: string, at: number): NicEntry {
    const host = get(labels, L.hostname) ?? '';
    const key = `nic/${get(labels, L.cluster) ?? ''}/${host}/${device}/${port}`;
    let e = this.entries.get(key) as NicEntry | undefined;
    if (!e) {
      e = { ...this.common(labels, key, at), kind: 'nic', device, port, boardId: get(labels, L.boardId) ?? '', history: emptyNicHistory() };
      this.entries.set(key, e);
    }
    this.touch(e, at);
    return e;
  }

  private nodeEntry(labels: Label[], at: number): NodeEntry {
    const key = `node/${get(labels, L.cluster) ?? ''}/${get(labels, L.hostname) ?? ''}`;
    let e = this.entries.get(key) as NodeEntry | undefined;
    if (!e) {
      e = { ...this.common(labels, key, at), kind: 'node' };
      this.entries.set(key, e);
    }
    this.touch(e, at);
    return e;
  }

  /** Re-evaluates health of everything observed since the last call; reports changes. */
  evaluate(now: number): HealthChange[] {
    const changes: HealthChange[] = [];
    if (now - this.lastSweep >= 10_000) {
      // at most every 10 s: expire held events of entities that stopped reporting, forget long-gone ones
      this.lastSweep = now;
      for (const [k, e] of this.entries) {
        if (e.updatedAt < now - this.forgetMs) {
          e.removed = true;
          this.entries.delete(k);
          this.dirty.delete(e);
        } else if (!e.dirty && e.held.some((f) => f.at < now - this.holdMs)) {
          const conditions = e.verdict.findings.filter((f) => !f.event);
          this.reevaluate(e, now, conditions, [], changes);
        }
      }
    }
    for (const e of this.dirty) {
      e.dirty = false;
      if (e.kind === 'gpu') {
        const obs = this.gpuObservation(e);
        const findings = evaluateGpu(e.prev, obs);
        e.prev = obs;
        this.reevaluate(e, now, findings.filter((f) => !f.event), findings.filter((f) => f.event), changes);
      } else if (e.kind === 'nic') {
        const counters: Record<string, number> = {};
        for (const [name, v] of e.values) {
          const m = /^meridian_rdma_(.+)_total$/.exec(name);
          if (m && !name.endsWith('_bytes_total')) counters[m[1]!] = v.value;
        }
        const state = e.values.get(M.rdmaState)?.value;
        const obs: NicObservation = state === undefined ? { at: e.updatedAt, counters } : { at: e.updatedAt, state, counters };
        const r = evaluateNic(e.history, obs);
        e.history = r.history;
        this.reevaluate(e, now, r.findings.filter((f) => !f.event), r.findings.filter((f) => f.event), changes);
      } else {
        const findings = evaluateNodeGpuCount(e.values.get(M.gpusVisible)?.value, e.values.get(M.gpusExpected)?.value, e.updatedAt);
        this.reevaluate(e, now, findings, [], changes);
      }
    }
    this.dirty.clear();
    for (const c of changes) this.opts.onHealthChange?.(c);
    return changes;
  }

  private gpuObservation(e: GpuEntry): GpuObservation {
    const v = (name: string) => e.values.get(name)?.value;
    const byKey = (key: string) => v(GPU_METRICS[key]!.name);
    const obs: GpuObservation = { at: e.updatedAt, xidCounts: { ...e.xidCounts }, nvlinkUp: { ...e.nvlinkUp } };
    const set = <K extends keyof GpuObservation>(k: K, x: GpuObservation[K] | undefined) => {
      if (x !== undefined) obs[k] = x;
    };
    set('health', v(M.gpuHealth));
    set('recoveryAction', byKey('recovery_action'));
    set('eccDbeVolatile', byKey('ecc_dbe_volatile_total'));
    set('eccSbeVolatile', byKey('ecc_sbe_volatile_total'));
    set('remappedRowsUncorrectable', byKey('remapped_rows_uncorrectable'));
    set('remappedRowsPending', byKey('remapped_rows_pending'));
    set('remappedRowsFailure', byKey('remapped_rows_failure'));
    set('retiredPagesSbe', byKey('retired_pages_sbe'));
    set('retiredPagesDbe', byKey('retired_pages_dbe'));
    set('retiredPagesPending', byKey('retired_pages_pending'));
    set('nvlinkReplayErrors', byKey('nvlink_replay_errors_total'));
    set('nvlinkRecoveryErrors', byKey('nvlink_recovery_errors_total'));
    set('nvlinkCrcFlitErrors', byKey('nvlink_crc_flit_errors_total'));
    set('nvlinkCrcDataErrors', byKey('nvlink_crc_data_errors_total'));
    set('pcieReplay', byKey('pcie_replay_counter'));
    return obs;
  }

  private reevaluate(e: Entry, now: number, conditions: Finding[], events: Finding[], changes: HealthChange[]): void {
    e.held = [...e.held.filter((f) => f.at >= now - this.holdMs), ...events];
    const verdict = summarize([...conditions, ...e.held]);
    const prev = e.verdict;
    e.verdict = verdict;
    if (prev.status !== verdict.status || prev.action !== verdict.action) {
      changes.push({ kind: e.kind, key: e.key, cluster: e.cluster, hostname: e.hostname, ...(e.kind === 'gpu' ? { uuid: e.uuid } : {}), previous: prev, current: verdict });
    }
  }

  /**
   * Forgets held event findings (XIDs, counter increases) of an entity, e.g. after remediation reset the
   * GPU and verified it; conditions still observed keep their verdict. Returns the new verdict.
   */
  clearEvents(key: string, now: number): Verdict | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    e.held = [];
    if (e.kind === 'gpu') e.prev = undefined; // next observation is the new baseline
    const changes: HealthChange[] = [];
    const conditions = e.kind === 'gpu' ? evaluateGpu(undefined, { ...this.gpuObservation(e), xidCounts: {} }).filter((f) => !f.event) : e.verdict.findings.filter((f) => !f.event);
    this.reevaluate(e, now, conditions, [], changes);
    if (e.kind === 'gpu') e.prev = this.gpuObservation(e);
    for (const c of changes) this.opts.onHealthChange?.(c);
    return e.verdict;
  }

  private view(e: Entry, now: number): GpuView | NicView | NodeView {
    const metrics: Record<string, number> = {};
    for (const [n, v] of e.values) metrics[n] = v.value;
    const base = {
      key: e.key,
      cluster: e.cluster,
      region: e.region,
      hostname: e.hostname,
      simulated: e.simulated,
      metrics,
      updatedAt: e.updatedAt,
      stale: e.updatedAt < now - this.staleMs,
      health: e.verdict,
    };
    if (e.kind === 'gpu') return { ...base, kind: 'gpu', uuid: e.uuid, gpu: e.index, modelName: e.modelName, pciBusId: e.pciBusId, job: { ...e.job }, xidCounts: { ...e.xidCounts } };
    if (e.kind === 'nic') return { ...base, kind: 'nic', device: e.device, port: e.port, boardId: e.boardId };
    return { ...base, kind: 'node' };
  }

  gpus(filter: { cluster?: string; hostname?: string } = {}, now = Date.now()): GpuView[] {
    return this.list('gpu', filter, now) as GpuView[];
  }

  nics(filter: { cluster?: string; hostname?: string } = {}, now = Date.now()): NicView[] {
    return this.list('nic', filter, now) as NicView[];
  }

  nodes(filter: { cluster?: string; hostname?: string } = {}, now = Date.now()): NodeView[] {
    return this.list('node', filter, now) as NodeView[];
  }

  gpu(uuid: string, cluster?: string, now = Date.now()): GpuView | undefined {
    for (const e of this.entries.values()) if (e.kind === 'gpu' && e.uuid === uuid && (cluster === undefined || e.cluster === cluster)) return this.view(e, now) as GpuView;
    return undefined;
  }

  /** Everything not healthy, worst first. */
  unhealthy(filter: { cluster?: string } = {}, now = Date.now()): (GpuView | NicView | NodeView)[] {
    return [...this.entries.values()]
      .filter((e) => e.verdict.status !== 'healthy' && (filter.cluster === undefined || e.cluster === filter.cluster))
      .map((e) => this.view(e, now))
      .sort((a, b) => (a.health.status === b.health.status ? a.key.localeCompare(b.key) : a.health.status === 'unhealthy' ? -1 : 1));
  }

  private list(kind: EntityKind, filter: { cluster?: string; hostname?: string }, now: number): EntityView[] {
    const out: EntityView[] = [];
    for (const e of this.entries.values()) {
      if (e.kind !== kind) continue;
      if (filter.cluster !== undefined && e.cluster !== filter.cluster) continue;
      if (filter.hostname !== undefined && e.hostname !== filter.hostname) continue;
      out.push(this.view(e, now));
    }
    return out.sort((a, b) => a.key.localeCompare(b.key, 'en', { numeric: true }));
  }

  get size(): number {
    return this.entries.size;
  }
}

