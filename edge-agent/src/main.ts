// The `edge-agent` process for a Kubernetes (default) or Slurm (`--kind slurm`, see ./slurm-mode.ts) member cluster.
//
//   edge-agent --hub-url http://hub:8080 --cluster-id us-east --credential-file /etc/meridian/credential \
//              [--kubeconfig ~/.kube/config] [--namespace meridian-jobs] [--listen 0.0.0.0:9402]
//   edge-agent --kind slurm --hub-url ... --cluster-id hpc --credential-file ... \
//              [--slurm-transport local|rest|ssh] [--slurm-conf /etc/slurm/slurm.conf] [--slurm-workdir /shared/meridian]
//   edge-agent --kind collector --node-name gpu-7 --hub-url ... --cluster-id us-east --credential-file ... \
//              [--nvml-lib /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1]   (per-node GPU telemetry only; ./collector-mode.ts)
//
// Every flag has an environment variable (MERIDIAN_HUB_URL, MERIDIAN_CLUSTER_ID, MERIDIAN_CLUSTER_CREDENTIAL
// or MERIDIAN_CLUSTER_CREDENTIAL_FILE, KUBECONFIG, ...). Without a kubeconfig it uses the in-cluster service
// account. It serves /healthz and /metrics, and prints `MERIDIAN_AGENT_LISTEN=http://host:port` once up.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import client from 'prom-client';
import { checkNodeName, COLLECTOR_VERSION, CollectorAgent } from './collector-mode.ts';
import { linkRevocations } from './hub-link/index.ts';
import { AGENT_VERSION, KubernetesAgent } from './kubernetes/agent.ts';
import { DEFAULT_JOB_IMAGE } from './kubernetes/jobs.ts';
import { SLURM_AGENT_VERSION, SlurmModeAgent } from './slurm-mode.ts';
import type { SlurmModeOptions } from './slurm-mode.ts';
import { startTelemetry } from './telemetry-mode.ts';
import type { TelemetryHandle, TelemetryModeOptions } from './telemetry-mode.ts';

export interface MainOptions extends SlurmModeOptions, TelemetryModeOptions {
  kind: 'kubernetes' | 'slurm' | 'collector';
  hubUrl: string;
  clusterId: string;
  credential?: string;
  credentialFile?: string;
  kubeconfig?: string;
  namespace: string;
  listen: string;
  journal?: string;
  drift: 'report' | 'reconcile';
  gpuLabel: string;
  gpuShareReplicas: number;
  jobImage: string;
  tolerate: string[];
  apiserverLostAfter: number;
  logLevel: string;
}

/** `alice=asmith,bob=bjones` → { alice: 'asmith', bob: 'bjones' }; a malformed entry names itself. */
const userMap = (v: string): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const item of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)=([a-z_][a-z0-9_.-]{0,31})$/i.exec(item);
    if (!m) throw new InvalidArgumentError(`"${item}" is not meridianUser=unixAccount (e.g. alice=asmith)`);
    out[m[1]!] = m[2]!;
  }
  return out;
};
const replicas = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1: the time-slicing replicas per GPU of the NVIDIA device plugin config (e.g. 10)');
  return n;
};
const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of milliseconds >= 0');
  return n;
};
const count = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
};
const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a TCP port');
  return n;
};

export function program(): Command {
  return new Command('edge-agent')
    .description("Meridian's edge agent for a Kubernetes or Slurm cluster: inventory and job status up, jobs and node commands down")
    .addOption(new Option('--kind <kind>', 'what kind of cluster this agent joins, or `collector`: GPU telemetry of one node only').choices(['kubernetes', 'slurm', 'collector']).env('MERIDIAN_CLUSTER_KIND').default('kubernetes'))
    .addOption(new Option('--hub-url <url>', 'hub base URL (http(s)://host:port)').env('MERIDIAN_HUB_URL').makeOptionMandatory())
    .addOption(new Option('--cluster-id <id>', 'this cluster\'s id at the hub').env('MERIDIAN_CLUSTER_ID').makeOptionMandatory())
    .addOption(new Option('--credential <secret>', 'cluster credential (from POST /api/v1/clusters)').env('MERIDIAN_CLUSTER_CREDENTIAL'))
    .addOption(new Option('--credential-file <path>', 'file holding the cluster credential').env('MERIDIAN_CLUSTER_CREDENTIAL_FILE'))
    .addOption(new Option('--kubeconfig <path>', 'kubeconfig (default: in-cluster service account, else ~/.kube/config)').env('KUBECONFIG'))
    .addOption(new Option('--namespace <ns>', 'namespace for Meridian Jobs').env('MERIDIAN_NAMESPACE').default('meridian-jobs'))
    .addOption(new Option('--listen <host:port>', '/healthz and /metrics address').env('MERIDIAN_AGENT_LISTEN').default('0.0.0.0:9402'))
    .addOption(new Option('--journal <path>', 'journal file (unacked events survive a restart)').env('MERIDIAN_AGENT_JOURNAL'))
    .addOption(new Option('--drift <mode>', 'a hand-undone hub cordon/taint: report it, or put it back').choices(['report', 'reconcile']).env('MERIDIAN_DRIFT').default('report'))
    .addOption(new Option('--gpu-label <label>', 'node label with the GPU model').env('MERIDIAN_GPU_LABEL').default('nvidia.com/gpu.product'))
    .addOption(new Option('--gpu-share-replicas <n>', 'time-slicing replicas per GPU (nvidia.com/gpu.shared), as the device plugin is configured').env('MERIDIAN_GPU_SHARE_REPLICAS').argParser(replicas).default(10))
    .addOption(new Option('--job-image <ref>', 'image for a command or batch script that names none (bash, coreutils, python3)').env('MERIDIAN_JOB_IMAGE').default(DEFAULT_JOB_IMAGE))
    .addOption(new Option('--tolerate <taint-key...>', 'taint keys Meridian Jobs tolerate').env('MERIDIAN_TOLERATE').default([]))
    .addOption(new Option('--apiserver-lost-after <ms>', 'disconnect from the hub when the apiserver is unreachable this long (0 = never)').env('MERIDIAN_APISERVER_LOST_AFTER_MS').argParser(positiveInt).default(30_000))
    .addOption(new Option('--log-level <level>').env('LOG_LEVEL').default('info'))
    // Slurm mode (--kind slurm)
    .addOption(new Option('--slurm-transport <t>', 'slurm: how to reach Slurm').choices(['local', 'rest', 'ssh']).env('MERIDIAN_SLURM_TRANSPORT').default('local'))
    .addOption(new Option('--slurm-conf <path>', 'slurm: slurm.conf for the CLI (local, ssh, rest node updates)').env('SLURM_CONF'))
    .addOption(new Option('--slurm-bin-dir <dir>', 'slurm: absolute directory of sbatch, squeue, scontrol, scancel, sacct, sinfo (on the login node for ssh); never looked up on PATH').env('MERIDIAN_SLURM_BIN_DIR').default('/usr/bin'))
    .addOption(new Option('--slurmrestd-url <url>', 'slurm rest: slurmrestd base URL').env('SLURMRESTD_URL'))
    .addOption(new Option('--slurmrestd-user <name>', 'slurm rest: X-SLURM-USER-NAME').env('SLURMRESTD_USER').default('root'))
    .addOption(new Option('--slurm-jwt <token>', 'slurm rest: JWT').env('SLURM_JWT'))
    .addOption(new Option('--slurm-jwt-file <path>', 'slurm rest: file with the JWT (re-read per request)').env('SLURM_JWT_FILE'))
    .addOption(new Option('--ssh-host <host>', 'slurm ssh: login node').env('MERIDIAN_SSH_HOST'))
    .addOption(new Option('--ssh-port <port>', 'slurm ssh: port').env('MERIDIAN_SSH_PORT').argParser(port).default(22))
    .addOption(new Option('--ssh-user <user>', 'slurm ssh: user').env('MERIDIAN_SSH_USER'))
    .addOption(new Option('--ssh-key-file <path>', 'slurm ssh: private key').env('MERIDIAN_SSH_KEY_FILE'))
    .addOption(new Option('--ssh-host-key <sha256>', 'slurm ssh: pinned host key fingerprint (base64, no SHA256: prefix)').env('MERIDIAN_SSH_HOST_KEY'))
    .addOption(new Option('--slurm-workdir <dir>', 'slurm: directory jobs start in when the dispatch names none').env('MERIDIAN_SLURM_WORKDIR').default(process.cwd()))
    .addOption(new Option('--slurm-runtime <rt>', 'slurm: how container images run').choices(['pyxis', 'apptainer', 'podman', 'docker', 'host']).env('MERIDIAN_SLURM_RUNTIME').default('host'))
    .addOption(new Option('--slurm-poll-interval <ms>', 'slurm: inventory and job poll interval').env('MERIDIAN_SLURM_POLL_MS').argParser(positiveInt).default(2000))
    .addOption(new Option('--slurm-jobid-lib <path>', 'slurm: the library built from slurm-bridge/shim/sbatch-jobid.c (absolute path, on the login node for ssh): jobs keep their Meridian ID in Slurm (needs root or SlurmUser, and FirstJobId above Meridian\'s IDs)').env('MERIDIAN_SLURM_JOBID_LIB'))
    .addOption(new Option('--slurm-run-as <who>', 'slurm: run jobs as the agent\'s account, or as the Unix account of the Meridian user who submitted them (sbatch --uid/--gid; the agent runs as root)').choices(['agent', 'submitter']).env('MERIDIAN_SLURM_RUN_AS').default('agent'))
    .addOption(new Option('--slurm-user-map <map>', 'slurm: Meridian user → Unix account where the names differ, e.g. alice=asmith,bob=bjones').env('MERIDIAN_SLURM_USER_MAP').argParser(userMap))
    .addOption(new Option('--slurm-min-uid <uid>', 'slurm: the lowest uid a job may run as with --slurm-run-as submitter').env('MERIDIAN_SLURM_MIN_UID').argParser(count).default(1000))
    .addOption(new Option('--slurm-shards-per-gpu <n>', 'slurm: gres/shard per GPU as gres.conf has it; milli-GPU jobs run as --gres=shard:N (unset: GPU shares are refused)').env('MERIDIAN_SLURM_SHARDS_PER_GPU').argParser(count))
    // GPU telemetry (either kind)
    .addOption(new Option('--telemetry', 'forward GPU metrics (NVML) to the hub\'s telemetry receiver').env('MERIDIAN_TELEMETRY').default(false))
    .addOption(new Option('--telemetry-wal <dir>', 'telemetry write-ahead buffer directory (default: a temp dir)').env('MERIDIAN_TELEMETRY_WAL'))
    .addOption(new Option('--telemetry-interval <ms>', 'telemetry scrape interval').env('MERIDIAN_TELEMETRY_INTERVAL_MS').argParser(positiveInt).default(1000))
    .addOption(new Option('--nvml-lib <path>', 'NVML library (the fake NVML in the sandbox)').env('MERIDIAN_NVML_LIB'))
    .addOption(new Option('--node-name <name>', 'Hostname label of this node\'s GPU series (default: the host name)').env('MERIDIAN_NODE_NAME'))
    .addOption(
      new Option('--gpu-jobs <source>', 'label GPU series with who holds each GPU: kubelet PodResources (pods), squeue/scontrol on this node (slurm), both, or off (default: slurm for --kind slurm, else pods)')
        .choices(['pods', 'slurm', 'both', 'off'])
        .env('MERIDIAN_GPU_JOBS'),
    );
}

type AgentHandle = { health(): { ok: boolean }; start(): Promise<void>; stop(): Promise<void> };

export async function run(o: MainOptions): Promise<{ agent: KubernetesAgent | SlurmModeAgent | CollectorAgent; url: string; close(): Promise<void> }> {
  const credential = o.credential ?? (o.credentialFile ? readFileSync(o.credentialFile, 'utf8').trim() : undefined);
  if (!credential) throw new Error('no cluster credential: pass --credential-file <path> (or MERIDIAN_CLUSTER_CREDENTIAL); an admin gets one from POST /api/v1/clusters');
  if (!/^https?:\/\//.test(o.hubUrl)) throw new Error(`--hub-url must be http(s)://host:port, got ${JSON.stringify(o.hubUrl)}`);
  const collector = o.kind === 'collector';
  o.gpuJobs ??= o.kind === 'slurm' ? 'slurm' : 'pods';
  const nodeName = collector ? checkNodeName(o.nodeName) : o.nodeName;
  const log = pino({ level: o.logLevel, base: { svc: collector ? 'gpu-collector' : 'edge-agent', cluster: o.clusterId, ...(collector ? { node: nodeName } : {}) } });
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'meridian_agent_' });
  const tolerate = Array.isArray(o.tolerate) ? o.tolerate : String(o.tolerate).split(',').filter(Boolean);
  const slurm = o.kind === 'slurm';
  const version = collector ? COLLECTOR_VERSION : slurm ? SLURM_AGENT_VERSION : AGENT_VERSION;
  const agent: AgentHandle & (KubernetesAgent | SlurmModeAgent | CollectorAgent) = collector
    ? new CollectorAgent({ ...o, credential, nodeName: nodeName!, registry, log })
    : slurm
    ? new SlurmModeAgent({ ...o, credential, ...(o.journal ? { journal: o.journal } : {}), registry, log })
    : KubernetesAgent.fromKubeconfig(o.kubeconfig, {
    hubUrl: o.hubUrl,
    credential,
    clusterId: o.clusterId,
    namespace: o.namespace,
    ...(o.journal ? { journalFile: o.journal } : {}),
    driftMode: o.drift,
    inventory: { gpuModelLabel: o.gpuLabel, toleratedTaints: tolerate, sharedGpuReplicas: o.gpuShareReplicas },
    jobs: { sharedGpuReplicas: o.gpuShareReplicas, defaultImage: o.jobImage, slurmScriptImage: o.jobImage, tolerations: tolerate.map((key) => ({ key, operator: 'Exists' })) },
    apiserverLostAfterMs: o.apiserverLostAfter,
    registry,
    log,
  });
  const [host, portText] = splitHostPort(o.listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      const h = agent.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ...h, version }));
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('try /healthz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address}:${addr.port}`;
  await agent.start();
  // the collector kind runs the telemetry pipeline itself; --telemetry adds it to a cluster agent
  const telemetry: TelemetryHandle | null = o.telemetry && !collector ? startTelemetry({ ...o, credential, registry, log }) : null;
  log.info({ url, hub: o.hubUrl, kind: o.kind, ...(collector ? {} : slurm ? { transport: o.slurmTransport } : { namespace: o.namespace }) }, 'edge agent started');
  return {
    agent,
    url,
    async close() {
      await telemetry?.stop();
      await agent.stop();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function splitHostPort(v: string): [string, string] {
  const i = v.lastIndexOf(':');
  if (i < 0) return ['0.0.0.0', v];
  return [v.slice(0, i) || '0.0.0.0', v.slice(i + 1)];
}

/** The exit status when the hub revoked the cluster credential (a supervisor should not just restart it). */
export const EXIT_CREDENTIAL_REVOKED = 3;

/** Parses argv, starts the agent, stops it cleanly on SIGTERM/SIGINT, exits 3 when the credential is revoked. */
export function cli(argv: string[] = process.argv): void {
  const cmd = program();
  cmd.parse(argv);
  const opts = cmd.opts<MainOptions>();
  let handle: Awaited<ReturnType<typeof run>> | null = null;
  // A revoked credential is final (the hub link logged what to do): stop and exit non-zero rather than retry forever.
  linkRevocations.once('revoked', () => {
    const exit = (): never => process.exit(EXIT_CREDENTIAL_REVOKED);
    if (!handle) exit();
    void handle!.close().finally(exit);
    setTimeout(exit, 5000).unref();
  });
  run(opts).then(
    (h) => {
      handle = h;
      process.stdout.write(`MERIDIAN_AGENT_LISTEN=${h.url}\n`);
      let stopping = false;
      const shutdown = (): void => {
        if (stopping) process.exit(1);
        stopping = true;
        void h.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    },
    (err: unknown) => {
      console.error(`edge-agent failed to start: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) cli();
