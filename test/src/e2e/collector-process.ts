// The per-node GPU collector (`edge-agent --kind collector --node-name <node>`, the chart's DaemonSet command
// line) as a supervised process over the fake NVML, with its own script so a test can fault and heal the node's
// GPUs while it runs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAKE_NVML_PATH, writeFakeNvmlScript } from '@meridian/native/fixtures';
import type { FakeEvent, FakeGpu } from '@meridian/native/fixtures';
import { Daemon } from '../harness/daemon.ts';
import { repoRoot } from '../harness/engines.ts';
import { httpGet } from '../harness/kube/probe.ts';
import { freePort } from '../harness/ports.ts';
import type { RunDir } from '../harness/rundir.ts';

export interface CollectorSpec {
  hubUrl: string;
  clusterId: string;
  credential: string;
  node: string;
  runDir: RunDir;
  /** GPUs of this node (default 2 healthy A100s) */
  gpus?: number;
  /** NVML's name for them (default "NVIDIA A100-SXM4-80GB") */
  gpuName?: string;
  intervalMs?: number;
}

export class CollectorProcess {
  private daemon: Daemon | null = null;
  private readonly script: string;
  private readonly credentialFile: string;
  private gpus: FakeGpu[];
  private events: FakeEvent[] = [];
  url = '';

  constructor(readonly spec: CollectorSpec) {
    this.script = join(spec.runDir.path, `fake-nvml-${spec.node}.script`);
    this.credentialFile = join(spec.runDir.path, `collector-${spec.node}.credential`);
    writeFileSync(this.credentialFile, `${spec.credential}\n`, { mode: 0o600 });
    this.gpus = Array.from({ length: spec.gpus ?? 2 }, (_, i) => this.healthyGpu(i));
    this.write();
  }

  private healthyGpu(i: number): FakeGpu {
    return { uuid: `GPU-${this.spec.node}-${i}`, name: this.spec.gpuName ?? 'NVIDIA A100-SXM4-80GB', util: 50, temp: 40 + i };
  }

  /** UUID of the node's GPU `i`. */
  uuid(i: number): string {
    return this.gpus[i]!.uuid!;
  }

  private write(): void {
    writeFakeNvmlScript(this.script, { driver: '550.54.15', gpus: this.gpus, events: this.events });
  }

  /**
   * Raises an XID on GPU `gpu`. With `lost`, once the collector has counted the XID, every NVML call on the GPU
   * answers GPU_IS_LOST too (a GPU that fell off the bus): the XID reaches the hub first, as on real hardware.
   */
  async xid(gpu: number, xid: number, o: { lost?: boolean } = {}): Promise<void> {
    this.events.push({ id: this.events.length + 1, gpu, xid });
    this.write();
    if (!o.lost) return;
    const uuid = this.uuid(gpu);
    const counted = (text: string) =>
      text.split('\n').some((l) => l.startsWith('meridian_gpu_xid_errors_total{') && l.includes(`UUID="${uuid}"`) && l.includes(`xid="${xid}"`) && !/ 0$/.test(l));
    const deadline = Date.now() + 30_000;
    while (!counted(await (await fetch(`${this.url}/metrics`)).text())) {
      if (Date.now() > deadline) throw new Error(`collector of ${this.spec.node} did not count XID ${xid} on GPU ${gpu} within 30 s\n${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.gpus[gpu] = { ...this.gpus[gpu]!, lost: true };
    this.write();
  }

  /** Every GPU answers normally again (a reset or reboot fixed it). */
  heal(): void {
    this.gpus = this.gpus.map((_, i) => this.healthyGpu(i));
    this.write();
  }

  async start(): Promise<this> {
    const port = await freePort();
    const s = this.spec;
    this.daemon = new Daemon(
      {
        name: `gpu-collector-${s.node}`,
        command: process.execPath,
        args: [
          join(repoRoot, 'edge-agent/bin/edge-agent.js'),
          '--kind', 'collector',
          '--node-name', s.node,
          '--hub-url', s.hubUrl,
          '--cluster-id', s.clusterId,
          '--credential-file', this.credentialFile,
          '--nvml-lib', FAKE_NVML_PATH,
          '--telemetry-interval', String(s.intervalMs ?? 500),
          '--telemetry-wal', s.runDir.sub(`wal-${s.node}`),
          '--listen', `127.0.0.1:${port}`,
          '--log-level', 'warn',
        ],
        cwd: repoRoot,
        env: { ...process.env, MERIDIAN_FAKE_NVML_SCRIPT: this.script },
      },
      s.runDir,
    ).start();
    this.url = `http://127.0.0.1:${port}`;
    await this.daemon.waitReady(async () => (await httpGet(`${this.url}/healthz`)).status === 200, 90_000, 250);
    return this;
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
  }

  logTail(lines = 40): string {
    return this.daemon?.logTail(lines) ?? '(not started)';
  }
}
