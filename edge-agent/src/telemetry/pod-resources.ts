// GPU → pod mapping from the kubelet PodResources API (gRPC `v1.PodResourcesLister/List` on the kubelet's unix
// socket), as dcgm-exporter does it. A node without the socket (a Slurm node, a test machine) simply gets no
// pod labels; a missing socket, a slow or broken kubelet is logged once per change of state and never throws
// out of the collector.
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { credentials, loadPackageDefinition, status as GrpcStatus } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { AllocationSource, GpuAllocation } from './collector.ts';
import { allocationsFromPodResources, isGpuResource } from './gpu-allocations.ts';
import type { ListPodResourcesResponse } from './gpu-allocations.ts';

export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';

const PROTO = fileURLToPath(new URL('./proto/podresources-v1.proto', import.meta.url));

/** The part of pino's Logger this needs. */
export interface AllocationLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PodResourcesOptions {
  /** default: $MERIDIAN_POD_RESOURCES_SOCKET, else /var/lib/kubelet/pod-resources/kubelet.sock */
  socketPath?: string;
  /** deadline of one List call (default 2000 ms): a hung kubelet never stalls the scrape longer */
  timeoutMs?: number;
  /**
   * After a failed List, keep answering with the last good mapping for this long (default 30 s) so one
   * hiccup does not strip the pod labels (which would start new series); after that the failure is reported.
   */
  maxStaleMs?: number;
  /** which resources are whole GPUs (default: nvidia.com/gpu and nvidia.com/gpu.*) */
  isGpuResource?: (resourceName: string) => boolean;
  log?: AllocationLogger;
  now?: () => number;
}

type ListFn = (
  req: object,
  opts: { deadline: number },
  cb: (err: ServiceError | null, res?: ListPodResourcesResponse) => void,
) => unknown;
type ListerClient = Client & { List: ListFn };
type ListerCtor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => ListerClient;

let listerCtor: ListerCtor | null = null;

function lister(): ListerCtor {
  if (!listerCtor) {
    // keepCase: the mapping reads the proto's own field names (pod_resources, resource_name, device_ids)
    const def = loadSync(PROTO, { keepCase: true, longs: String, defaults: false, arrays: true });
    const pkg = loadPackageDefinition(def) as unknown as { v1: { PodResourcesLister: ListerCtor } };
    listerCtor = pkg.v1.PodResourcesLister;
  }
  return listerCtor;
}

/** A state key per kind of failure (the text of a deadline error varies between calls). */
function errorKind(err: unknown): string {
  const e = err as Partial<ServiceError>;
  return typeof e?.code === 'number' ? `error:${e.code}` : `error:${err instanceof Error ? err.message : String(err)}`;
}

function describeError(err: unknown): string {
  const e = err as Partial<ServiceError>;
  if (typeof e?.code === 'number') return `${GrpcStatus[e.code] ?? e.code}: ${e.details || e.message}`;
  return err instanceof Error ? err.message : String(err);
}

export class PodResourcesAllocationSource implements AllocationSource {
  readonly socketPath: string;
  private client: ListerClient | null = null;
  private last: { at: number; map: Map<string, GpuAllocation> } | null = null;
  /** the state last logged: 'ok', 'missing' or the error text, so each change is logged once */
  private logged: string | null = null;

  constructor(private readonly opts: PodResourcesOptions = {}) {
    this.socketPath = opts.socketPath ?? process.env.MERIDIAN_POD_RESOURCES_SOCKET ?? DEFAULT_POD_RESOURCES_SOCKET;
  }

  async allocations(): Promise<Map<string, GpuAllocation>> {
    const now = this.opts.now ?? Date.now;
    if (!(await isSocket(this.socketPath))) {
      this.closeClient(); // a kubelet restart recreates the socket: dial the new one afterwards
      this.last = null;
      this.note('missing', () =>
        this.opts.log?.info(
          { socket: this.socketPath },
          'no kubelet PodResources socket: GPU series carry no pod/namespace/container labels (mount /var/lib/kubelet/pod-resources, or set MERIDIAN_POD_RESOURCES_SOCKET)',
        ),
      );
      return new Map();
    }
    try {
      const resp = await this.list();
      const map = allocationsFromPodResources(resp, this.opts.isGpuResource ?? isGpuResource);
      this.last = { at: now(), map };
      this.note('ok', () => this.opts.log?.info({ socket: this.socketPath, gpusInUse: map.size }, 'kubelet PodResources: mapping GPUs to pods'));
      return map;
    } catch (err) {
      const why = `kubelet PodResources List on ${this.socketPath} failed: ${describeError(err)}`;
      // a broken connection is re-dialled on the next scrape rather than left in backoff
      this.closeClient();
      this.note(errorKind(err), () => this.opts.log?.warn({ socket: this.socketPath }, `${why}; GPU pod labels kept for ${this.opts.maxStaleMs ?? 30_000} ms, then dropped`));
      if (this.last && now() - this.last.at <= (this.opts.maxStaleMs ?? 30_000)) return this.last.map;
      throw new Error(why);
    }
  }

  close(): void {
    this.closeClient();
  }

  private list(): Promise<ListPodResourcesResponse> {
    if (!this.client) {
      const Ctor = lister();
      this.client = new Ctor(`unix:${this.socketPath}`, credentials.createInsecure());
    }
    const client = this.client;
    return new Promise((resolve, reject) => {
      client.List({}, { deadline: Date.now() + (this.opts.timeoutMs ?? 2000) }, (err, res) => (err ? reject(err) : resolve(res ?? {})));
    });
  }

  private closeClient(): void {
    this.client?.close();
    this.client = null;
  }

  private note(state: string, log: () => void): void {
    if (this.logged === state) return;
    this.logged = state;
    log();
  }
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}
