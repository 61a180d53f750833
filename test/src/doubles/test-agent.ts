// A test agent client that speaks the real agent protocol through edge-agent's HubLink: it reports a
// fake inventory, "runs" dispatched jobs for `runMs` (Running, then Succeeded or the scripted outcome),
// honours cancel, answers logs, and counts every dispatch it applied (to prove none runs twice).
import { FileJournal, HubLink, MemoryJournal } from '@meridian/edge-agent/hub-link/index';
import type { CommandOutcome } from '@meridian/edge-agent/hub-link/index';
import type { Command, DispatchCommand, NodeInfo } from '@meridian/protocol/agent-protocol';

export interface TestAgentOptions {
  hubUrl: string;
  credential: string;
  clusterId: string;
  nodes?: number;
  gpusPerNode?: number;
  gpuModel?: string;
  /** How long a dispatched job "runs". */
  runMs?: number;
  /** Journal file (survives an agent restart); memory when absent. */
  journalFile?: string;
  /** Decide a job's outcome (default: Succeeded, exit 0). */
  outcome?: (cmd: DispatchCommand) => { phase: 'Succeeded' | 'Failed'; exitCode: number; reason?: string };
  /** Report Running but never finish (cancel / cluster-lost tests). */
  hold?: (cmd: DispatchCommand) => boolean;
  /** Called when a dispatch command is applied (benchmarks time it). */
  onDispatch?: (cmd: DispatchCommand) => void;
}

export function fakeNodes(count: number, gpus: number, model: string, prefix = 'node'): NodeInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`,
    gpuModel: model,
    capacity: { cpuMilli: 64_000, memoryMiB: 512 * 1024, gpus, rdma: 0 },
    allocatable: { cpuMilli: 64_000, memoryMiB: 512 * 1024, gpus, rdma: 0 },
    requested: { cpuMilli: 0, memoryMiB: 0, gpus: 0, rdma: 0 },
    gpus: Array.from({ length: gpus }, (_, g) => ({ index: g, healthy: true, milliUsed: 0 })),
    labels: {},
    taints: [],
    unschedulable: false,
    ready: true,
  }));
}

export class TestAgent {
  readonly link: HubLink;
  /** jobId → attempts dispatched (applied, deduplicated by command seq as a real agent would). */
  readonly dispatches = new Map<string, number[]>();
  readonly cancels: { jobId: string; attempt?: number }[] = [];
  readonly commands: { seq: number; command: Command }[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Nodes a hub `cordon` or `drain` command marked unschedulable (an `uncordon` clears it). */
  readonly cordoned = new Set<string>();

  /** Options may be changed while running (e.g. to script the next job's outcome). */
  constructor(readonly o: TestAgentOptions) {
    this.link = new HubLink({
      hubUrl: o.hubUrl,
      credential: o.credential,
      clusterId: o.clusterId,
      kind: 'kubernetes',
      agentVersion: 'test-agent/1',
      journal: o.journalFile ? new FileJournal(o.journalFile) : new MemoryJournal(),
      onCommand: (cmd, seq) => this.onCommand(cmd, seq),
      backoff: { minMs: 100, maxMs: 1000 },
    });
  }

  get inventory(): NodeInfo[] {
    return fakeNodes(this.o.nodes ?? 2, this.o.gpusPerNode ?? 8, this.o.gpuModel ?? 'A100', this.o.clusterId).map((n) => ({ ...n, unschedulable: this.cordoned.has(n.name) }));
  }

  /** Connects and reports the inventory; resolves once the hub stored it. */
  async start(): Promise<void> {
    this.link.start();
    this.link.emit({ type: 'inventory.snapshot', nodes: this.inventory });
    await this.link.flushed(60_000);
  }

  async stop(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.link.stop();
  }

  /** Jobs dispatched more than once for the same attempt (must stay empty). */
  duplicates(): string[] {
    return [...this.dispatches].filter(([, attempts]) => new Set(attempts).size !== attempts.length).map(([id]) => id);
  }

  private async onCommand(cmd: Command, seq: number): Promise<CommandOutcome | void> {
    this.commands.push({ seq, command: cmd });
    if (cmd.kind === 'dispatch') {
      const key = `${cmd.jobId}/${cmd.attempt}`;
      const seen = this.dispatches.get(cmd.jobId) ?? [];
      seen.push(cmd.attempt);
      this.dispatches.set(cmd.jobId, seen);
      this.o.onDispatch?.(cmd);
      const base = { type: 'job.status' as const, jobId: cmd.jobId, attempt: cmd.attempt, clusterJobId: `k8s-${key.replace('/', '-')}` };
      this.link.emit({ ...base, phase: 'Running', tasks: cmd.nodes.map((node, index) => ({ index, node, phase: 'Running' as const })), startedAt: new Date().toISOString() });
      if (this.o.hold?.(cmd)) return;
      this.timers.set(
        key,
        setTimeout(() => {
          this.timers.delete(key);
          const out = this.o.outcome?.(cmd) ?? { phase: 'Succeeded' as const, exitCode: 0 };
          this.link.emit({ ...base, phase: out.phase, exitCode: out.exitCode, ...(out.reason ? { reason: out.reason } : {}), tasks: [], finishedAt: new Date().toISOString() });
        }, this.o.runMs ?? 200),
      );
      return;
    }
    if (cmd.kind === 'cancel') {
      this.cancels.push({ jobId: cmd.jobId, ...(cmd.attempt ? { attempt: cmd.attempt } : {}) });
      const attempt = cmd.attempt ?? 1;
      const key = `${cmd.jobId}/${attempt}`;
      const t = this.timers.get(key);
      if (t) clearTimeout(t);
      this.timers.delete(key);
      this.link.emit({ type: 'job.status', jobId: cmd.jobId, attempt, phase: 'Cancelled', reason: cmd.reason, tasks: [] });
      return;
    }
    if (cmd.kind === 'node' && (cmd.op === 'cordon' || cmd.op === 'drain' || cmd.op === 'uncordon')) {
      // as a real agent: the node's new state reaches the hub as an inventory delta
      if (cmd.op === 'uncordon') this.cordoned.delete(cmd.node);
      else this.cordoned.add(cmd.node);
      const node = this.inventory.find((n) => n.name === cmd.node);
      if (!node) return { ok: false, error: `no node ${cmd.node}` };
      this.link.emit({ type: 'inventory.delta', upserts: [node], deletes: [] });
      return { ok: true };
    }
    if (cmd.kind === 'logs') return { ok: true, detail: { text: `log of job ${cmd.jobId} task ${cmd.task}\nhello from the test agent\n` } };
    return { ok: true };
  }
}
