// A node's GPUs as the scheduler sees them: the hub's own reservations where the hub put them, plus whatever
// else the member reports in use (jobs and pods the hub did not place, on any index), each GPU counted once.
import type { NodeInfo } from '@meridian/protocol/agent-protocol';
import type { NodeSpec } from '../scheduler/index.ts';

/**
 * Milli-GPU amounts the member reports in use on a node that the hub does not already hold there, largest
 * first. A Kubernetes agent tags the GPUs of Meridian's pods with their job id: such a GPU is the hub's when
 * `hubJobs` (job id → nodes of its placed, dispatched or running placement) puts that job on this node. A pod
 * that landed elsewhere still counts where it runs.
 */
export function memberOnlyUse(info: NodeInfo, hubJobs: ReadonlyMap<string, ReadonlySet<string>>): number[] {
  const indexed = info.gpus.filter((g) => g.milliUsed > 0 || g.jobId);
  const amounts = indexed.filter((g) => !(g.jobId && hubJobs.get(g.jobId)?.has(info.name))).map((g) => Math.min(1000, g.milliUsed || 1000));
  // A report that counts more whole GPUs than it marks per index (an agent that only sends the count).
  const extra = Math.max(0, info.requested.gpus - indexed.length);
  for (let i = 0; i < extra; i++) amounts.push(1000);
  return amounts.sort((a, b) => b - a);
}

/**
 * Takes the hub's own jobs out of untagged reports (Slurm: a count per node, with every running job in it).
 * `shown`: per node, whole GPUs of hub jobs the member runs, where the hub placed them. Slurm may have started a
 * job on other nodes than the hub chose, so what a node's count does not hold comes off the other nodes:
 * the cluster's total stays right, each job counted once.
 */
export function dropShown(use: Map<string, number[]>, shown: ReadonlyMap<string, number>): void {
  const take = (amounts: number[], want: number): number => {
    let n = 0;
    while (n < want && amounts[0] === 1000) {
      amounts.shift();
      n++;
    }
    return n;
  };
  let left = 0;
  for (const [node, count] of shown) left += count - take(use.get(node) ?? [], count);
  for (const node of [...use.keys()].sort()) if (left > 0) left -= take(use.get(node)!, left);
}

/**
 * Lays member-only use onto the GPUs the hub's reservations left, healthy ones first. What does not fit is the
 * member and the hub disagreeing for a moment (a report older than the hub's last placement): it is dropped,
 * the node being full either way.
 */
export function placeMemberUse(node: NodeSpec, amounts: number[]): void {
  const order = node.gpus.map((g, i) => ({ g, i })).sort((a, b) => Number(b.g.healthy) - Number(a.g.healthy) || a.i - b.i);
  for (const amount of amounts) {
    const slot =
      (amount >= 1000 ? order.find((x) => x.g.milliUsed === 0) : undefined) ??
      order.find((x) => x.g.milliUsed > 0 && x.g.milliUsed + amount <= 1000) ??
      order.find((x) => x.g.milliUsed + amount <= 1000);
    if (slot) slot.g.milliUsed += amount;
  }
}
