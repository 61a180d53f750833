// A real Kubernetes member cluster on loopback: etcd + kube-apiserver + kube-controller-manager +
// kube-scheduler, with KWOK playing the kubelets of simulated GPU nodes. Wired by hand (not kwokctl) so
// every process is supervised by the harness and its failures come back with the command and log tail.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { Daemon, EngineError, sleep } from '../daemon.ts';
import { goBinary } from '../engines.ts';
import { freePorts } from '../ports.ts';
import { RunDir } from '../rundir.ts';
import { gpuNodeManifest, type GpuNodeSpec } from './nodes.ts';
import { httpGet } from './probe.ts';
import { RealNode } from './real-node.ts';

/** Taints the node lifecycle controller sets while a node is not (yet) Ready or not heard from. */
const LIFECYCLE_TAINTS = new Set(['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']);

export type { GpuNodeSpec } from './nodes.ts';

export interface KubeClusterOptions {
  /** Used in names and logs, e.g. the region. */
  name: string;
  nodes?: GpuNodeSpec[];
  /**
   * Also start a real worker node (containerd + kubelet, `<name>-real`) beside the KWOK nodes, with these
   * scripts/images.mjs images loaded (true: job-runner). Off by default: it costs seconds and a build.
   */
  realNode?: boolean | { images: string[] };
}

const stagesFile = fileURLToPath(new URL('./stages.yaml', import.meta.url));
export const components = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export type Component = (typeof components)[number];

export class KubeCluster {
  readonly kubeconfigPath: string;
  /** The real worker node, when started with `realNode`. */
  realNode: RealNode | undefined;
  private readonly daemons = new Map<Component, Daemon>();

  private constructor(
    readonly name: string,
    private readonly runDir: RunDir,
    readonly apiserverPort: number,
    private readonly specs: Map<Component, ConstructorParameters<typeof Daemon>[0]>,
    private readonly token: string,
  ) {
    this.kubeconfigPath = join(runDir.path, 'kubeconfig');
  }

  get server(): string {
    return `https://127.0.0.1:${this.apiserverPort}`;
  }

  static async start(opts: KubeClusterOptions): Promise<KubeCluster> {
    const runDir = RunDir.create(`kube-${opts.name}`);
    const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort] = (await freePorts(6)) as [number, number, number, number, number, number];
    const pki = runDir.sub('pki');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    writeFileSync(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(pki, 'tokens.csv'), `${token},meridian-admin,meridian-admin,"system:masters"\n`);
    const certDir = runDir.sub('apiserver-certs');
    const kubeconfig = join(runDir.path, 'kubeconfig');

    const specs = new Map<Component, ConstructorParameters<typeof Daemon>[0]>([
      ['etcd', {
        name: 'etcd',
        command: goBinary('kube', 'etcd'),
        args: ['--name', 'default', '--data-dir', join(runDir.path, 'etcd'),
          '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
          '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
          '--initial-cluster', `default=http://127.0.0.1:${etcdPeerPort}`, '--unsafe-no-fsync', '--quota-backend-bytes', String(4 << 30),
          '--log-level', 'warn'],
      }],
      ['kube-apiserver', {
        name: 'kube-apiserver',
        command: goBinary('kube', 'kube-apiserver'),
        args: [`--etcd-servers=http://127.0.0.1:${etcdPort}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`, `--cert-dir=${certDir}`, `--token-auth-file=${join(pki, 'tokens.csv')}`,
          '--authorization-mode=RBAC', `--service-account-key-file=${join(pki, 'sa.pub')}`,
          `--service-account-signing-key-file=${join(pki, 'sa.key')}`, '--service-account-issuer=https://kubernetes.default.svc',
          '--service-cluster-ip-range=10.96.0.0/16', '--allow-privileged=true', '--enable-priority-and-fairness=false',
          '--endpoint-reconciler-type=none', '--kubelet-preferred-address-types=InternalIP,Hostname', '--v=1'],
      }],
      ['kube-controller-manager', {
        name: 'kube-controller-manager',
        command: goBinary('kube', 'kube-controller-manager'),
        args: [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`,
          `--service-account-private-key-file=${join(pki, 'sa.key')}`, '--use-service-account-credentials=false',
          `--root-ca-file=${join(certDir, 'apiserver.crt')}`, '--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle',
          '--concurrent-job-syncs=10', '--kube-api-qps=200', '--kube-api-burst=400', '--v=1'],
      }],
      ['kube-scheduler', {
        name: 'kube-scheduler',
        command: goBinary('kube', 'kube-scheduler'),
        args: [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${schedPort}`,
          '--kube-api-qps=200', '--kube-api-burst=400', '--v=1'],
      }],
      // KWOK plays only the nodes annotated as simulated: a real node's kubelet reports for itself.
      ['kwok', {
        name: 'kwok',
        command: goBinary('kwok', 'kwok'),
        args: [`--kubeconfig=${kubeconfig}`, `--config=${stagesFile}`, '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
          `--server-address=127.0.0.1:${kwokPort}`, '--cidr=10.244.0.0/16', '--node-ip=10.0.0.1', '--v=INFO'],
      }],
    ]);
    const cluster = new KubeCluster(opts.name, runDir, apiPort, specs, token);
    try {
      await cluster.startComponent('etcd');
      await cluster.startComponent('kube-apiserver');
      cluster.writeKubeconfig(join(certDir, 'apiserver.crt'));
      await cluster.startComponent('kube-controller-manager');
      await cluster.startComponent('kube-scheduler');
      await cluster.startComponent('kwok');
      await cluster.waitForDefaultServiceAccount();
      if (opts.nodes?.length) await cluster.addNodes(opts.nodes);
      if (opts.realNode) {
        const images = typeof opts.realNode === 'object' ? opts.realNode.images : undefined;
        cluster.realNode = await RealNode.start({ region: opts.name, kubeconfig, images });
      }
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private writeKubeconfig(caFile: string): void {
    const ca = readFileSync(caFile).toString('base64');
    writeFileSync(
      this.kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: ${this.name}`,
        '  cluster:',
        `    server: ${this.server}`,
        `    certificate-authority-data: ${ca}`,
        'users:',
        '- name: meridian-admin',
        '  user:',
        `    token: ${this.token}`,
        'contexts:',
        `- name: ${this.name}`,
        '  context:',
        `    cluster: ${this.name}`,
        '    user: meridian-admin',
        `current-context: ${this.name}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  }

  /** Starts (or restarts after stopComponent) one control-plane process and waits until it serves. */
  async startComponent(component: Component): Promise<void> {
    const spec = this.specs.get(component)!;
    const d = new Daemon(spec, this.runDir).start();
    this.daemons.set(component, d);
    const port = (flag: string) => spec.args.find((a) => a.startsWith(flag))?.split(/[=:]/).pop();
    switch (component) {
      case 'etcd': {
        const url = spec.args[spec.args.indexOf('--listen-client-urls') + 1];
        await d.waitReady(async () => (await httpGet(`${url}/health`)).body.includes('"health":"true"'), 30_000);
        break;
      }
      case 'kube-apiserver':
        await d.waitReady(async () => (await httpGet(`${this.server}/readyz`, this.token)).status === 200, 120_000, 250);
        break;
      case 'kube-controller-manager':
      case 'kube-scheduler':
        await d.waitReady(async () => (await httpGet(`https://127.0.0.1:${port('--secure-port')}/healthz`)).status === 200, 60_000, 250);
        break;
      case 'kwok':
        await d.waitReady(async () => (await httpGet(`http://127.0.0.1:${port('--server-address')}/healthz`)).status === 200, 60_000, 250);
        break;
    }
  }

  /** Stops one process (a failure test can take the apiserver away and bring it back). */
  async stopComponent(component: Component, hard = false): Promise<void> {
    const d = this.daemons.get(component);
    if (!d) return;
    if (hard) await d.kill();
    else await d.stop();
    this.daemons.delete(component);
  }

  kubeConfig(): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  core(): k8s.CoreV1Api {
    return this.kubeConfig().makeApiClient(k8s.CoreV1Api);
  }

  private async waitForDefaultServiceAccount(): Promise<void> {
    const core = this.core();
    const kcm = this.daemons.get('kube-controller-manager')!;
    await kcm.waitReady(async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return true;
    }, 60_000, 200);
  }

  /**
   * Registers simulated GPU nodes and waits until they are usable: KWOK reports them Ready and the node
   * lifecycle controller has lifted the not-ready taint it puts on every new node. Ready alone is not enough:
   * the taint goes a moment later, and a test reading the inventory in between sees an unschedulable node.
   */
  async addNodes(nodes: GpuNodeSpec[]): Promise<void> {
    const core = this.core();
    for (const n of nodes) await core.createNode({ body: gpuNodeManifest(n) });
    const names = new Set(nodes.map((n) => n.name));
    const kwok = this.daemons.get('kwok')!;
    await kwok.waitReady(async () => {
      const list = await core.listNode();
      const usable = list.items.filter(
        (n) =>
          names.has(n.metadata?.name ?? '') &&
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          !(n.spec?.taints ?? []).some((t) => LIFECYCLE_TAINTS.has(t.key)),
      );
      return usable.length === names.size;
    }, 60_000, 250);
  }

  logTail(component: Component, lines = 40): string {
    return this.daemons.get(component)?.logTail(lines) ?? '(not running)';
  }

  async stop(): Promise<void> {
    await this.realNode?.stop();
    this.realNode = undefined;
    // Reverse order: KWOK and controllers first, etcd last.
    for (const c of [...components].reverse()) {
      await this.daemons.get(c)?.stop();
      this.daemons.delete(c);
    }
    this.runDir.remove();
  }

  /** Throws an EngineError naming the cluster when a condition is not met in time. */
  async waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const v = await fn();
        if (v) return v;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await sleep(200);
    }
    throw new EngineError(`cluster ${this.name}: timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
  }
}
