// A real worker node beside a region's KWOK nodes: containerd (root, state and socket under the run
// directory), runc, the bridge CNI plugin and a kubelet registered with the region's apiserver. Pods placed
// on it really run, from images built by scripts/images.mjs and imported into its containerd.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Daemon, EngineError } from '../daemon.ts';
import { goBinary, repoRoot } from '../engines.ts';
import { freePorts } from '../ports.ts';
import { RunDir } from '../rundir.ts';
import { cgroupControllers, cleanupRealNode, REAL_NODE_RECORD, type RealNodeRecord } from './real-node-cleanup.ts';

/** Label on the real node (and selector for pods that must run for real). */
export const REAL_NODE_LABEL = 'meridian.dev/node';
export const REAL_NODE_VALUE = 'real';

const CONTAINERD = '/usr/bin/containerd';
const CNI_BIN = '/usr/lib/cni';
const LIFECYCLE_TAINTS = new Set(['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']);

export interface BuiltImage {
  ref: string;
  archive: string;
}

/** Builds (or finds cached) images through scripts/images.mjs; its JSON answer names each ref and archive. */
export function ensureImages(names: string[]): Record<string, BuiltImage> {
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/images.mjs'), '--json', ...names], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new EngineError(`scripts/images.mjs ${names.join(' ')} exited ${r.status ?? r.signal}:\n${(r.stderr ?? '').trim().split('\n').slice(-20).join('\n')}`);
  }
  return JSON.parse(r.stdout) as Record<string, BuiltImage>;
}

/** The first non-loopback IPv4 address: the kubelet refuses a loopback node IP. */
function hostIp(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new EngineError('real node: this machine has no non-loopback IPv4 address, which the kubelet needs as its node IP');
}

export interface RealNodeOptions {
  /** The region name; the node is called `<region>-real`. */
  region: string;
  /** Admin kubeconfig of the region's apiserver. */
  kubeconfig: string;
  /** Images (scripts/images.mjs names) to load besides the pod sandbox; default job-runner. */
  images?: string[];
}

export class RealNode {
  private constructor(
    readonly name: string,
    private readonly runDir: RunDir,
    readonly containerdSocket: string,
    readonly images: Record<string, BuiltImage>,
    private readonly containerd: Daemon,
    private kubelet: Daemon | undefined,
  ) {}

  static async start(opts: RealNodeOptions): Promise<RealNode> {
    const images = ensureImages(['pause', ...(opts.images ?? ['job-runner'])]);
    const runDir = RunDir.create(`node-${opts.region}`);
    const name = `${opts.region}-real`;
    const id = randomBytes(3).toString('hex');
    const record: RealNodeRecord = {
      socket: join(runDir.path, 'containerd.sock'),
      cgroupRoot: `/meridian-${id}`,
      // Linux caps interface names at 15 characters; one bridge and one /24 per node, so regions never share.
      bridge: `mrd${id}`,
      subnet: `10.${200 + (parseInt(id.slice(0, 2), 16) % 50)}.${parseInt(id.slice(2, 4), 16)}.0/24`,
      runDir: runDir.path,
    };
    writeFileSync(join(runDir.path, REAL_NODE_RECORD), JSON.stringify(record));
    for (const c of cgroupControllers()) mkdirSync(join('/sys/fs/cgroup', c, record.cgroupRoot), { recursive: true });

    const cniConf = runDir.sub('cni/net.d');
    writeFileSync(join(cniConf, '10-meridian.conflist'), JSON.stringify({
      cniVersion: '1.0.0',
      name: 'meridian',
      plugins: [{
        type: 'bridge', bridge: record.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: record.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: runDir.sub('cni/ipam') },
      }],
    }));
    const containerdConf = join(runDir.path, 'containerd.toml');
    writeFileSync(containerdConf, containerdToml(runDir, record.socket, images.pause!.ref, cniConf));
    const containerd = new Daemon({ name: 'containerd', command: CONTAINERD, args: ['--config', containerdConf] }, runDir).start();
    let node: RealNode | undefined;
    try {
      await containerd.waitReady(async () => ctr(record.socket, ['version']).status === 0, 30_000, 200);
      for (const img of Object.values(images)) {
        const r = ctr(record.socket, ['--namespace', 'k8s.io', 'images', 'import', img.archive]);
        if (r.status !== 0) throw containerd.failure(`could not import ${img.archive}: ${(r.stderr || r.stdout).trim()}`);
      }
      const [port, healthz] = (await freePorts(2)) as [number, number];
      const kubeletConf = join(runDir.path, 'kubelet.yaml');
      writeFileSync(kubeletConf, kubeletConfig(record, port, healthz));
      const kubelet = new Daemon({
        name: 'kubelet',
        command: goBinary('kubelet', 'kubelet'),
        args: [`--config=${kubeletConf}`, `--kubeconfig=${opts.kubeconfig}`, `--hostname-override=${name}`, `--node-ip=${hostIp()}`,
          `--root-dir=${runDir.sub('kubelet')}`, `--cert-dir=${runDir.sub('kubelet-pki')}`,
          `--node-labels=${REAL_NODE_LABEL}=${REAL_NODE_VALUE}`, '--v=1'],
      }, runDir).start();
      node = new RealNode(name, runDir, record.socket, images, containerd, kubelet);
      await node.waitUsable(opts.kubeconfig, kubelet);
      return node;
    } catch (err) {
      if (node) await node.stop();
      else {
        await containerd.stop();
        cleanupRealNode(runDir.path);
        runDir.remove();
      }
      throw err;
    }
  }

  /** Ready, and the node lifecycle controller has lifted its not-ready taint. */
  private async waitUsable(kubeconfig: string, kubelet: Daemon): Promise<void> {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    try {
      await kubelet.waitReady(async () => {
        const n = await core.readNode({ name: this.name });
        return Boolean(n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          !(n.spec?.taints ?? []).some((t) => LIFECYCLE_TAINTS.has(t.key)));
      }, 120_000, 250);
    } catch (err) {
      throw new EngineError(`real node ${this.name} did not become Ready: ${(err as Error).message}\n  --- containerd ---\n${this.containerd.logTail(15)}`);
    }
  }

  logTail(which: 'kubelet' | 'containerd', lines = 40): string {
    return (which === 'kubelet' ? this.kubelet : this.containerd)?.logTail(lines) ?? '(not running)';
  }

  /** The image ref a scripts/images.mjs name was loaded as, e.g. image('job-runner'). */
  image(name: string): string {
    const img = this.images[name];
    if (!img) throw new Error(`image ${name} was not loaded on ${this.name} (loaded: ${Object.keys(this.images).join(', ')})`);
    return img.ref;
  }

  async stop(): Promise<void> {
    await this.kubelet?.stop();
    this.kubelet = undefined;
    // Containers outlive the kubelet and (their shims being re-parented) containerd: kill them first.
    for (const idLine of ctr(this.containerdSocket, ['--namespace', 'k8s.io', 'tasks', 'ls', '-q']).stdout.split('\n')) {
      const id = idLine.trim();
      if (id) ctr(this.containerdSocket, ['--namespace', 'k8s.io', 'tasks', 'kill', '--all', '--signal', 'SIGKILL', id]);
    }
    await this.containerd.stop();
    cleanupRealNode(this.runDir.path);
    this.runDir.remove();
  }
}

function ctr(socket: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ctr', ['--address', socket, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

function containerdToml(runDir: RunDir, socket: string, pauseRef: string, cniConf: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${runDir.sub('containerd/root')}"
state = "${runDir.sub('containerd/state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${runDir.sub('containerd/opt')}"
[${cri}]
  sandbox_image = "${pauseRef}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [${cri}.cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${cniConf}"
`;
}

function kubeletConfig(record: RealNodeRecord, port: number, healthz: number): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://${record.socket}
cgroupDriver: cgroupfs
cgroupRoot: ${record.cgroupRoot}
failSwapOn: false
port: ${port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${healthz}
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
# Images here come from scripts/images.mjs, never a registry: the kubelet must not collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 1Mi
  nodefs.available: 1%
  imagefs.available: 1%
serializeImagePulls: false
resolvConf: ""
maxPods: 110
nodeStatusUpdateFrequency: 2s
syncFrequency: 5s
`;
}
