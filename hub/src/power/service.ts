// Elastic power requests against the store: the cluster's policy, the hub's ledger and its drains read under the
// cluster's power lock, the pure rule (decide.ts) applied, and the answer recorded, in one transaction.
import type pg from 'pg';
import { tx } from '../store/db.ts';
import type { Queryable } from '../store/db.ts';
import { audit } from '../store/repos/audit.ts';
import { hubDrainedNodes, lockClusterPower, poweredNodes, readPowerPolicy, recordPower, writePowerPolicy } from '../store/repos/power.ts';
import { decidePower, DEFAULT_POWER_POLICY } from './decide.ts';
import type { PowerAction, PowerDecision, PowerPolicy } from './decide.ts';

/** The policy in force: the stored one, or the default (no limit, power-ups allowed). */
export async function powerPolicy(db: Queryable, clusterId: string): Promise<PowerPolicy> {
  return (await readPowerPolicy(db, clusterId)) ?? { ...DEFAULT_POWER_POLICY };
}

/** Decides a power request of `clusterId` and records the answer (ledger and one event per node). */
export async function decidePowerRequest(pool: pg.Pool, clusterId: string, action: PowerAction, nodes: string[], requestedBy: string): Promise<PowerDecision> {
  return tx(pool, async (c) => {
    await lockClusterPower(c, clusterId);
    // one client, one query at a time (pg queues them, but deprecates overlapping calls)
    const policy = await powerPolicy(c, clusterId);
    const powered = await poweredNodes(c, clusterId);
    const drained = await hubDrainedNodes(c, clusterId);
    const d = decidePower(clusterId, action, nodes, { policy, powered: new Set(powered), drained });
    await recordPower(c, clusterId, action, d, requestedBy);
    return d;
  });
}

/** Applies a policy patch (omitted fields keep their value) and audits it; returns the policy now in force. */
export async function updatePowerPolicy(pool: pg.Pool, clusterId: string, patch: Partial<PowerPolicy>, actor: string): Promise<PowerPolicy> {
  return tx(pool, async (c) => {
    const p = { ...(await powerPolicy(c, clusterId)), ...patch };
    await writePowerPolicy(c, clusterId, p);
    await audit(c, actor, 'cluster.power.policy', clusterId, p);
    return p;
  });
}
