// Agent-side GPU / RDMA collector: reads a GpuSource (NVML through @meridian/native, or plain data in tests),
// an RdmaSource (sysfs) and who-runs-where (PodResources / Slurm), and turns one read into
//  - a prom-client Registry for the agent's /metrics (dcgm-exporter-compatible names, see metric-names.ts), and
//  - remote-write TimeSeries (sorted labels, one sample at the scrape's timestamp) for the WAL and forwarder.
import { Gauge, Registry } from 'prom-client';
import { GPU_HEALTH_CODES, GPU_METRICS, L, M, rdmaCounterName } from '@meridian/protocol/telemetry/metric-names';
import type { Label, TimeSeries } from '@meridian/protocol/telemetry/remote-write';

export type GpuHealthState = keyof typeof GPU_HEALTH_CODES;

/** One GPU's reading. @meridian/native's GpuSample satisfies this shape. */
export interface GpuReading {
  index: number;
  uuid: string;
  /** model name, e.g. "NVIDIA H100 80GB HBM3" */
  name: string;
  pciBusId: string;
  health: GpuHealthState;
  /** NVML metric keys (see GPU_METRICS); null where unsupported or the call failed */
  metrics: Partial<Record<string, number | null>>;
  nvlinks?: { link: number; active: boolean }[];
}

export interface XidCount {
  gpu: number;
  uuid: string;
  xid: number;
  count: number;
}

export interface GpuSource {
  /** true when readings come from the fake NVML (or other test data): every series gets simulated="true" */
  readonly simulated: boolean;
  /** false when NVML could not be loaded ("no NVML"): the collector exports meridian_node_nvml_up 0 and no GPUs */
  readonly available: boolean;
  readonly driverVersion: string | null;
  read(): Promise<GpuReading[]>;
  /** XID events seen since the source started, by GPU and code */
  xidCounts(): XidCount[];
  /** the last XID code seen per GPU UUID */
  lastXid(): Map<string, number>;
}

/** One RDMA port. @meridian/native's RdmaPort satisfies this shape. */
export interface RdmaPortReading {
  device: string;
  port: number;
  boardId: string | null;
  linkLayer: string | null;
  state: { code: number; name: string } | null;
  physState: { code: number; name: string } | null;
  rateGbps: number | null;
  counters: Record<string, number>;
  hwCounters: Record<string, number>;
  xmitBytes: number | null;
  rcvBytes: number | null;
}

export interface RdmaSource {
  readonly simulated: boolean;
  read(): Promise<RdmaPortReading[]>;
}

/** Who uses a GPU (by UUID): a Kubernetes container (PodResources API) or a Slurm job. */
export interface GpuAllocation {
  namespace?: string;
  pod?: string;
  container?: string;
  slurmJobId?: string;
  /** dcgm-exporter's hpc_job label (the Slurm job id) */
  hpcJob?: string;
  /** the federation job id, when the workload is a Meridian job */
  jobId?: string;
}

export interface AllocationSource {
  /** keyed by GPU UUID, or by gpuIndexKey(index) (`index:<n>`) for sources that only know the index (Slurm) */
  allocations(): Promise<Map<string, GpuAllocation>>;
}

export interface CollectorOptions {
  gpus: GpuSource;
  rdma?: RdmaSource;
  allocations?: AllocationSource;
  hostname: string;
  cluster: string;
  region?: string;
  /** GPUs this node should have (from inventory / node labels); exported as meridian_node_gpus_expected */
  expectedGpus?: number;
  /** defaults to a fresh Registry */
  registry?: Registry;
  now?: () => number;
}

export interface Scrape {
  /** ms since the epoch, the timestamp of every sample */
  timestamp: number;
  series: TimeSeries[];
  samples: number;
  /** sources that failed this round (the rest is still exported) */
  errors: string[];
}

interface Point {
  name: string;
  help: string;
  labels: Record<string, string>;
  value: number;
}

/** Plain-data GpuSource for tests, benchmarks and the sandbox without the native addon. */
export class StaticGpuSource implements GpuSource {
  readonly available = true;
  private readonly xids = new Map<string, XidCount>();
  private readonly last = new Map<string, number>();

  constructor(
    public gpus: GpuReading[],
    readonly simulated = true,
    readonly driverVersion: string | null = '550.54.15',
  ) {}

  async read(): Promise<GpuReading[]> {
    return this.gpus;
  }

  /** Records an XID as the NVML event watcher would. */
  raiseXid(gpu: number, xid: number): void {
    const g = this.gpus.find((x) => x.index === gpu);
    if (!g) throw new Error(`no GPU ${gpu}`);
    const key = `${gpu}/${xid}`;
    const c = this.xids.get(key) ?? { gpu, uuid: g.uuid, xid, count: 0 };
    c.count++;
    this.xids.set(key, c);
    this.last.set(g.uuid, xid);
  }

  xidCounts(): XidCount[] {
    return [...this.xids.values()].map((c) => ({ ...c }));
  }

  lastXid(): Map<string, number> {
    return new Map(this.last);
  }
}

export class StaticRdmaSource implements RdmaSource {
  constructor(
    public ports: RdmaPortReading[],
    readonly simulated = true,
  ) {}

  async read(): Promise<RdmaPortReading[]> {
    return this.ports;
  }
}

const RDMA_SKIP = new Set(['port_xmit_data', 'port_rcv_data']); // exported ×4 as *_bytes_total

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class TelemetryCollector {
  readonly registry: Registry;
  private readonly gauges = new Map<string, Gauge>();
  private readonly now: () => number;
  private lastScrape: Scrape | null = null;

  constructor(private readonly opts: CollectorOptions) {
    this.registry = opts.registry ?? new Registry();
    this.now = opts.now ?? Date.now;
  }

  get last(): Scrape | null {
    return this.lastScrape;
  }

  /** Reads every source once, refreshes the registry and returns the remote-write series of this read. */
  async collect(): Promise<Scrape> {
    const o = this.opts;
    const errors: string[] = [];
    const [gpus, ports, allocs] = await Promise.all([
      o.gpus.available ? o.gpus.read().catch((err: unknown) => (errors.push(`gpu: ${errText(err)}`), [] as GpuReading[])) : Promise.resolve([] as GpuReading[]),
      o.rdma ? o.rdma.read().catch((err: unknown) => (errors.push(`rdma: ${errText(err)}`), [] as RdmaPortReading[])) : Promise.resolve([] as RdmaPortReading[]),
      o.allocations
        ? o.allocations.allocations().catch((err: unknown) => (errors.push(`allocations: ${errText(err)}`), new Map<string, GpuAllocation>()))
        : Promise.resolve(new Map<string, GpuAllocation>()),
    ]);
    const timestamp = this.now();
    const points = this.points(gpus, ports, allocs);
    this.updateRegistry(points);
    const series: TimeSeries[] = points.map((p) => ({ labels: toLabels(p.name, p.labels), samples: [{ value: p.value, timestamp }] }));
    const scrape = { timestamp, series, samples: series.length, errors };
    this.lastScrape = scrape;
    return scrape;
  }

  private points(gpus: GpuReading[], ports: RdmaPortReading[], allocs: Map<string, GpuAllocation>): Point[] {
    const o = this.opts;
    const out: Point[] = [];
    const node: Record<string, string> = { [L.hostname]: o.hostname, [L.cluster]: o.cluster };
    if (o.region) node[L.region] = o.region;
    const gpuSim: Record<string, string> = o.gpus.simulated ? { [L.simulated]: 'true' } : {};
    out.push({ name: M.nvmlUp, help: 'NVML loaded and initialised (1) or not (0).', labels: { ...node, ...gpuSim }, value: o.gpus.available ? 1 : 0 });
    out.push({ name: M.gpusVisible, help: 'GPUs NVML reports on this node.', labels: { ...node, ...gpuSim }, value: gpus.length });
    if (o.expectedGpus !== undefined) out.push({ name: M.gpusExpected, help: 'GPUs this node should have.', labels: { ...node, ...gpuSim }, value: o.expectedGpus });

    const xids = o.gpus.available ? o.gpus.xidCounts() : [];
    const lastXid = o.gpus.available ? o.gpus.lastXid() : new Map<string, number>();
    for (const g of gpus) {
      const labels: Record<string, string> = {
        ...node,
        [L.gpu]: String(g.index),
        [L.uuid]: g.uuid,
        [L.pciBusId]: g.pciBusId,
        [L.device]: `nvidia${g.index}`,
        [L.modelName]: g.name,
        ...gpuSim,
      };
      if (o.gpus.driverVersion) labels[L.driverVersion] = o.gpus.driverVersion;
      const a = allocs.get(g.uuid) ?? allocs.get(`index:${g.index}`);
      if (a) {
        if (a.namespace) labels[L.namespace] = a.namespace;
        if (a.pod) labels[L.pod] = a.pod;
        if (a.container) labels[L.container] = a.container;
        if (a.slurmJobId) labels[L.slurmJobId] = a.slurmJobId;
        if (a.hpcJob) labels[L.hpcJob] = a.hpcJob;
        if (a.jobId) labels[L.jobId] = a.jobId;
      }
      for (const [key, def] of Object.entries(GPU_METRICS)) {
        const v = g.metrics[key];
        if (v === null || v === undefined || !Number.isFinite(v)) continue;
        out.push({ name: def.name, help: def.help, labels, value: v * def.scale });
      }
      out.push({ name: M.gpuHealth, help: 'GPU health from NVML: 0 ok, 1 error, 2 reset_required, 3 lost.', labels, value: GPU_HEALTH_CODES[g.health] ?? 1 });
      out.push({ name: M.xidLast, help: 'Value of the last XID error encountered.', labels, value: lastXid.get(g.uuid) ?? 0 });
      for (const x of xids) {
        if (x.uuid !== g.uuid) continue;
        out.push({ name: M.xidTotal, help: 'XID errors seen since the agent started, by code.', labels: { ...labels, [L.xid]: String(x.xid) }, value: x.count });
      }
      for (const l of g.nvlinks ?? []) {
        out.push({ name: M.nvlinkUp, help: 'NVLink link up (1) or down (0).', labels: { ...labels, [L.link]: String(l.link) }, value: l.active ? 1 : 0 });
      }
    }

    const nicSim: Record<string, string> = o.rdma?.simulated ? { [L.simulated]: 'true' } : {};
    for (const p of ports) {
      const labels: Record<string, string> = { ...node, [L.device]: p.device, [L.port]: String(p.port), ...nicSim };
      if (p.boardId) labels[L.boardId] = p.boardId;
      if (p.state) out.push({ name: M.rdmaState, help: 'IB port logical state: 1 DOWN, 2 INIT, 3 ARMED, 4 ACTIVE, 5 ACTIVE_DEFER.', labels, value: p.state.code });
      if (p.physState) out.push({ name: M.rdmaPhysState, help: 'IB port physical state: 2 Polling, 3 Disabled, 5 LinkUp, 6 LinkErrorRecovery.', labels, value: p.physState.code });
      if (p.rateGbps !== null) out.push({ name: M.rdmaRate, help: 'IB port rate (Gb/s).', labels, value: p.rateGbps });
      if (p.xmitBytes !== null) out.push({ name: M.rdmaXmitBytes, help: 'Bytes transmitted (port_xmit_data × 4).', labels, value: p.xmitBytes });
      if (p.rcvBytes !== null) out.push({ name: M.rdmaRcvBytes, help: 'Bytes received (port_rcv_data × 4).', labels, value: p.rcvBytes });
      for (const [file, v] of Object.entries(p.counters)) {
        if (RDMA_SKIP.has(file)) continue;
        out.push({ name: rdmaCounterName(file), help: `IB port counter ${file} (sysfs counters/).`, labels, value: v });
      }
      for (const [file, v] of Object.entries(p.hwCounters)) {
        out.push({ name: rdmaCounterName(file), help: `mlx5 port counter ${file} (sysfs hw_counters/).`, labels, value: v });
      }
    }
    return out;
  }

  private updateRegistry(points: Point[]): void {
    // Reset and refill in one synchronous step so a scrape never sees half a read, and series of pods that
    // went away (or GPUs that vanished) disappear instead of going stale.
    for (const g of this.gauges.values()) g.reset();
    for (const p of points) {
      let g = this.gauges.get(p.name);
      if (!g) {
        g = new Gauge({ name: p.name, help: p.help, labelNames: ALL_LABELS, registers: [this.registry] });
        this.gauges.set(p.name, g);
      }
      g.set(p.labels, p.value);
    }
  }
}

const ALL_LABELS: string[] = [...Object.values(L)];

function toLabels(name: string, labels: Record<string, string>): Label[] {
  const out: Label[] = [{ name: '__name__', value: name }];
  for (const k of Object.keys(labels).sort()) out.push({ name: k, value: labels[k]! });
  // '__name__' sorts before every lowercase/uppercase label name ('_' < 'a' but > 'Z'): keep the exact order Prometheus wants
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
