// Applies one stored agent event to the hub's state (inside the gateway's event transaction).
import type { AgentEvent } from '@meridian/protocol/agent-protocol';
import type { Queryable } from '../store/db.ts';
import { audit } from '../store/repos/audit.ts';
import { recordCommandResult } from '../store/repos/agent-stream.ts';
import { deleteNodes, replaceNodes, upsertNodes } from '../store/repos/clusters.ts';
import { recordPrewarmStatus } from '../store/repos/datasets.ts';
import { recordAgentStatus } from '../store/repos/lifecycle.ts';

export interface Effects {
  /** Jobs whose workflows should be woken after commit. */
  wake: string[];
  /** Inventory changed: run a scheduling cycle soon. */
  inventoryChanged: boolean;
  /** Non-fatal refusals to report to the agent. */
  refusals: string[];
}

export async function applyEvent(db: Queryable, clusterId: string, event: AgentEvent, fx: Effects): Promise<void> {
  switch (event.type) {
    case 'inventory.snapshot':
      await replaceNodes(db, clusterId, event.nodes);
      fx.inventoryChanged = true;
      break;
    case 'inventory.delta':
      await upsertNodes(db, clusterId, event.upserts);
      await deleteNodes(db, clusterId, event.deletes);
      fx.inventoryChanged = true;
      break;
    case 'job.status': {
      const r = await recordAgentStatus(db, clusterId, event);
      // The store already shows Running; the workflow only has work to do once the attempt ended.
      if (r.applied && event.phase !== 'Pending' && event.phase !== 'Running') fx.wake.push(event.jobId);
      if (r.why) fx.refusals.push(r.why);
      if (event.phase !== 'Pending' && event.phase !== 'Running') fx.inventoryChanged = true;
      break;
    }
    case 'command.result':
      await recordCommandResult(db, clusterId, event.commandSeq, { ok: event.ok, error: event.error, detail: event.detail });
      break;
    case 'drift':
      await audit(db, `cluster:${clusterId}`, 'drift', event.node, event);
      break;
    case 'prewarm.status':
      await recordPrewarmStatus(db, clusterId, event);
      // progress moves Prewarming reasons and ETAs; a finished copy lets waiting jobs start
      fx.inventoryChanged = true;
      break;
    case 'heartbeat':
      break;
  }
}
