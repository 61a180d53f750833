// Pure decision for elastic power requests: which of the nodes a cluster asks to power up the hub grants.
// Suspends are always granted (the cluster already decided the node is idle); the hub only records them.

export type PowerAction = 'resume' | 'suspend';

export interface PowerPolicy {
  /** The most elastic nodes powered at once; null = no limit. */
  maxPoweredNodes: number | null;
  /** false pauses every power-up of the cluster (suspends still go through). */
  allowResume: boolean;
}

export const DEFAULT_POWER_POLICY: PowerPolicy = { maxPoweredNodes: null, allowResume: true };

export interface PowerState {
  policy: PowerPolicy;
  /** Elastic nodes the hub counts as powered (its ledger, corrected by the agent's inventory). */
  powered: ReadonlySet<string>;
  /** Nodes the hub has drained or cordoned, with the reason it gave. */
  drained: ReadonlyMap<string, string>;
}

export interface PowerDecision {
  approved: string[];
  denied: { node: string; reason: string }[];
}

export function decidePower(clusterId: string, action: PowerAction, nodes: string[], state: PowerState): PowerDecision {
  const unique = [...new Set(nodes)];
  if (action === 'suspend') return { approved: unique, denied: [] };
  const out: PowerDecision = { approved: [], denied: [] };
  const powered = new Set(state.powered);
  const { maxPoweredNodes, allowResume } = state.policy;
  for (const node of unique) {
    const drainReason = state.drained.get(node);
    if (drainReason !== undefined) {
      out.denied.push({ node, reason: `the hub has drained ${node}${drainReason ? ` (${drainReason})` : ''}; uncordon it (POST /api/v1/clusters/${clusterId}/nodes/${node}/uncordon) to let it power up` });
    } else if (!allowResume) {
      out.denied.push({ node, reason: `power-ups are paused for cluster ${clusterId} (policy allowResume=false; PUT /api/v1/clusters/${clusterId}/power/policy to resume them)` });
    } else if (powered.has(node)) {
      out.approved.push(node); // already counted: no new capacity
    } else if (maxPoweredNodes !== null && powered.size >= maxPoweredNodes) {
      out.denied.push({ node, reason: `cluster ${clusterId} is at its power budget: ${powered.size} of maxPoweredNodes=${maxPoweredNodes} elastic nodes powered` });
    } else {
      powered.add(node);
      out.approved.push(node);
    }
  }
  return out;
}
