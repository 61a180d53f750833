// One dispatch command for the edge-agent driver tests: a one-task job with nothing set that a test does not
// name, so each test states only what it is about.
import type { DispatchCommand } from '@meridian/protocol/agent-protocol';

export const A100 = 'NVIDIA-A100-SXM4-80GB';

export function dispatchCommand(jobId: string, over: Partial<DispatchCommand> = {}): DispatchCommand {
  return {
    kind: 'dispatch',
    jobId,
    attempt: 1,
    project: 'ml',
    name: `job-${jobId}`,
    tasks: 1,
    perTask: { cpuMilli: 1000, memoryMiB: 1024, gpus: 0, rdma: 0 },
    nodes: [],
    env: {},
    maxRuntimeSec: 600,
    annotations: {},
    ...over,
  };
}

/** A one-GPU container job for the Kubernetes driver on KWOK (the run-duration annotation scripts the pod). */
export function kubeDispatch(jobId: string, runDuration: string, over: Partial<DispatchCommand> = {}): DispatchCommand {
  return dispatchCommand(jobId, {
    perTask: { cpuMilli: 1000, memoryMiB: 1024, gpus: 1, rdma: 0 },
    gpuModel: A100,
    image: 'busybox',
    annotations: { 'kwok.meridian.dev/run-duration': runDuration },
    ...over,
  });
}
