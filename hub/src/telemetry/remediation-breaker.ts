// The per-cluster quarantine circuit breaker: the pure decision (remediation-policy.ts) applied to the stored
// breaker under its row lock, in one transaction, so concurrent remediations cannot overshoot the share.
import type pg from 'pg';
import { tx } from '../store/db.ts';
import { lockBreaker, saveBreaker } from '../store/repos/remediation.ts';
import { decideQuarantine, releaseQuarantine, resetBreaker } from './remediation-policy.ts';
import type { BreakerDecision, BreakerState, CircuitBreakerConfig } from './remediation-policy.ts';

/** The circuit breaker's decision for quarantining `node` now, stored in the same transaction. */
export async function requestQuarantineSlot(pool: pg.Pool, cluster: string, node: string, cfg: CircuitBreakerConfig, now = Date.now()): Promise<BreakerDecision> {
  return tx(pool, async (c) => {
    const d = decideQuarantine(await lockBreaker(c, cluster), node, now, cfg);
    await saveBreaker(c, cluster, d.state);
    return d;
  });
}

/** The node is back in service: its slot is free again. */
export async function releaseQuarantineSlot(pool: pg.Pool, cluster: string, node: string): Promise<void> {
  await tx(pool, async (c) => saveBreaker(c, cluster, releaseQuarantine(await lockBreaker(c, cluster), node)));
}

/** An operator closes a tripped breaker (quarantined nodes stay quarantined). */
export async function resetQuarantineBreaker(pool: pg.Pool, cluster: string): Promise<BreakerState> {
  return tx(pool, async (c) => {
    const s = resetBreaker(await lockBreaker(c, cluster));
    await saveBreaker(c, cluster, s);
    return s;
  });
}

export async function breakerState(pool: pg.Pool, cluster: string): Promise<BreakerState> {
  return tx(pool, async (c) => lockBreaker(c, cluster));
}
