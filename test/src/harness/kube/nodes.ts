// Simulated GPU nodes: Node objects whose capacity advertises GPUs (and RDMA) the way the NVIDIA
// device plugin and GPU feature discovery would, so schedulers and the edge agent see real shapes.
import type { V1Node } from '@kubernetes/client-node';

export interface GpuNodeSpec {
  name: string;
  /** nvidia.com/gpu.product label, e.g. "NVIDIA-A100-SXM4-80GB". */
  gpuModel: string;
  gpus: number;
  cpu?: number;
  memoryGi?: number;
  /** RDMA devices advertised as rdma/hca (0 = none). */
  rdma?: number;
  labels?: Record<string, string>;
  /**
   * GPUs time-sliced as the NVIDIA device plugin advertises them with `renameByDefault`: `replicas` per GPU as
   * nvidia.com/gpu.shared, beside the whole GPUs in `gpus`.
   */
  timeSliced?: { gpus: number; replicas: number };
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
}

export const GPU_RESOURCE = 'nvidia.com/gpu';
export const RDMA_RESOURCE = 'rdma/hca';
export const SHARED_GPU_RESOURCE = 'nvidia.com/gpu.shared';
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';

export function gpuNodeManifest(spec: GpuNodeSpec): V1Node {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(spec.name)) {
    throw new Error(`node name ${JSON.stringify(spec.name)} is not a valid DNS-1123 name (lowercase letters, digits, '-', '.')`);
  }
  if (!Number.isInteger(spec.gpus) || spec.gpus < 0) throw new Error(`gpus for ${spec.name} must be a whole number >= 0, got ${spec.gpus}`);
  const resources: Record<string, string> = {
    cpu: String(spec.cpu ?? 64),
    memory: `${spec.memoryGi ?? 512}Gi`,
    pods: '110',
    [GPU_RESOURCE]: String(spec.gpus),
  };
  if (spec.rdma) resources[RDMA_RESOURCE] = String(spec.rdma);
  if (spec.timeSliced) resources[SHARED_GPU_RESOURCE] = String(spec.timeSliced.gpus * spec.timeSliced.replicas);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': spec.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/gpu': '',
        'type': 'kwok',
        [GPU_PRODUCT_LABEL]: spec.gpuModel,
        'nvidia.com/gpu.count': String(spec.gpus + (spec.timeSliced?.gpus ?? 0)),
        ...(spec.timeSliced ? { 'nvidia.com/gpu.replicas': String(spec.timeSliced.replicas), 'nvidia.com/gpu.sharing-strategy': 'time-slicing' } : {}),
        ...spec.labels,
      },
    },
    spec: { taints: spec.taints },
    status: { allocatable: resources, capacity: resources },
  };
}

/** A pool of identical nodes: gpuPool('a100', 4, 8, 'NVIDIA-A100-SXM4-80GB') → a100-0 .. a100-3. */
export function gpuPool(prefix: string, count: number, gpus: number, gpuModel: string, extra: Partial<GpuNodeSpec> = {}): GpuNodeSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: `${prefix}-${i}`, gpus, gpuModel, rdma: 1, ...extra }));
}
