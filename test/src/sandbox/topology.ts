// The local federation the sandbox brings up: two Kubernetes regions with different GPU models and
// prices, and one Slurm cluster with GPUs. Later capabilities read this to register clusters at the hub.
import type { GpuNodeSpec } from '../harness/kube/nodes.ts';
import { gpuPool } from '../harness/kube/nodes.ts';
import type { SlurmNodeSpec } from '../harness/slurm.ts';

export interface KubeRegion {
  clusterId: string;
  region: string;
  /** $ per GPU-hour by GPU model. */
  prices: Record<string, { onDemand: number; spot?: number }>;
  nodes: GpuNodeSpec[];
  /** the GPUs' name as NVML reports it (the fake NVML of each node's collector) */
  nvmlName: string;
  /** Also a real worker node (`<clusterId>-real`, containerd + kubelet) where CPU jobs run for real (docs/nodes.md). */
  realNode?: boolean;
}

export interface SlurmSite {
  clusterId: string;
  region: string;
  prices: Record<string, { onDemand: number }>;
  nodes: SlurmNodeSpec[];
  nvmlName: string;
}

export const kubeRegions: KubeRegion[] = [
  {
    clusterId: 'us-east',
    region: 'us-east',
    prices: { 'NVIDIA-A100-SXM4-80GB': { onDemand: 2.2, spot: 0.9 } },
    nodes: gpuPool('a100', 4, 8, 'NVIDIA-A100-SXM4-80GB'),
    nvmlName: 'NVIDIA A100-SXM4-80GB',
    realNode: true,
  },
  {
    clusterId: 'eu-west',
    region: 'eu-west',
    prices: { 'NVIDIA-H100-80GB-HBM3': { onDemand: 3.9, spot: 1.8 } },
    nodes: gpuPool('h100', 2, 8, 'NVIDIA-H100-80GB-HBM3'),
    nvmlName: 'NVIDIA H100 80GB HBM3',
  },
];

/** gres/shard per GPU on the Slurm site: a milli-GPU job takes its part of them (docs/slurm.md, GPU shares). */
export const SHARDS_PER_GPU = 10;

/** slurm.conf lines of the Slurm site: its own job IDs start far above Meridian's (docs/slurm.md, "One job ID"). */
export const slurmSiteConfig = ['FirstJobId=50000000'];

/** The site's Slurm accounts (slurmdbd): the agent submits as root unless it runs jobs as their submitters. */
export const slurmAccounts = [{ name: 'research', users: ['root'], qos: ['normal'] }];

export const slurmSite: SlurmSite = {
  clusterId: 'hpc',
  region: 'on-prem',
  prices: { a100: { onDemand: 1.1 } },
  nodes: [
    { name: 'gpu-0', cpus: 16, memoryMiB: 64000, gpus: 4, gpuType: 'a100', shards: 4 * SHARDS_PER_GPU },
    { name: 'gpu-1', cpus: 16, memoryMiB: 64000, gpus: 4, gpuType: 'a100', shards: 4 * SHARDS_PER_GPU },
  ],
  nvmlName: 'NVIDIA A100-SXM4-80GB',
};

/** Inter-region links: bandwidth and egress price, used for data-locality scoring. */
export const links = [
  { from: 'us-east', to: 'eu-west', bandwidthBytesPerSec: 1.25e9, egressUsdPerGB: 0.02 },
  { from: 'us-east', to: 'on-prem', bandwidthBytesPerSec: 1.25e8, egressUsdPerGB: 0.09 },
  { from: 'eu-west', to: 'on-prem', bandwidthBytesPerSec: 1.25e8, egressUsdPerGB: 0.09 },
];
