// The allocation source a node's collector uses: GPU → pod from the kubelet PodResources API (when the socket is
// there) and, on Slurm nodes, GPU → Slurm job. One call for the process modes to wire into TelemetryCollector.
import type { CommandRunner } from '@meridian/slurm-bridge/transports/runner';
import type { AllocationSource, GpuAllocation } from './collector.ts';
import { combineAllocationSources } from './gpu-allocations.ts';
import { PodResourcesAllocationSource } from './pod-resources.ts';
import type { AllocationLogger } from './pod-resources.ts';
import { SlurmAllocationSource } from './slurm-allocations.ts';

export interface NodeAllocationOptions {
  /** this node's name (Kubernetes node / Slurm NodeName): the collector's --node-name */
  nodeName: string;
  /** kubelet PodResources socket (default: $MERIDIAN_POD_RESOURCES_SOCKET, else the kubelet's path); false: off */
  podResourcesSocket?: string | false;
  /** map GPUs to Slurm jobs through squeue/scontrol on this node (default off) */
  slurm?: boolean | { runner?: CommandRunner; refreshMs?: number };
  log?: AllocationLogger;
}

export interface NodeAllocationSource extends AllocationSource {
  close(): void;
}

export function nodeAllocationSource(o: NodeAllocationOptions): NodeAllocationSource {
  const pod = o.podResourcesSocket === false ? null : new PodResourcesAllocationSource({ ...(o.podResourcesSocket ? { socketPath: o.podResourcesSocket } : {}), ...(o.log ? { log: o.log } : {}) });
  const sources: AllocationSource[] = pod ? [pod] : [];
  if (o.slurm) {
    const s = typeof o.slurm === 'object' ? o.slurm : {};
    sources.push(new SlurmAllocationSource({ nodeName: o.nodeName, ...s, ...(o.log ? { log: o.log } : {}) }));
  }
  const combined = combineAllocationSources(sources);
  return {
    allocations: (): Promise<Map<string, GpuAllocation>> => combined.allocations(),
    close: () => pod?.close(),
  };
}
