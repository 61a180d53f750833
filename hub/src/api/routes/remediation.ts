// GPU-fault self-healing, seen from the API: a node's event log (health changes, every remediation step), its
// running remediation, the operator's decision for it, and the per-cluster circuit breaker.
import { z } from 'zod';
import { safeString } from '@meridian/protocol/fields';
import { audit } from '../../store/repos/audit.ts';
import { getCluster } from '../../store/repos/clusters.ts';
import { listNodeEvents } from '../../store/repos/remediation.ts';
import { breakerState, resetQuarantineBreaker } from '../../telemetry/remediation-breaker.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { EventsQuery, Name } from '../schemas.ts';
import { page } from '../views.ts';

const NodeName = z.string().min(1).max(253).regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'a node name as the cluster reports it');
const NodeParams = z.object({ id: Name, node: NodeName }).strict();
const IdParams = z.object({ id: Name }).strict();
const Decision = z
  .object({
    decision: z.enum(['release', 'keep_out'], { message: "decision must be 'release' (return the node to service) or 'keep_out' (leave it quarantined)" }),
    note: safeString().max(1000).optional(),
  })
  .strict();

export function remediationRoutes(r: Routes, ctx: ApiContext): void {
  const temporal = () => {
    const w = ctx.remediation?.();
    if (!w) throw new ApiError(503, 'unavailable', 'Temporal is not connected yet; try again shortly');
    return w;
  };
  const cluster = async (id: string) => {
    if (!(await getCluster(ctx.pool, id))) throw notFound(`cluster ${id}`);
  };

  r.add({
    method: 'GET',
    url: '/api/v1/clusters/:id/nodes/:node/events',
    tag: 'clusters',
    summary: "A node's events, oldest first: GPU health changes and every self-healing step; page with `after`",
    params: NodeParams,
    query: EventsQuery,
    handler: async ({ params, query }) => {
      await cluster(params.id);
      const p = page(await listNodeEvents(ctx.pool, params.id, params.node, query.after ?? null, query.limit), query.limit);
      return { items: p.items, nextCursor: p.nextCursor };
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/clusters/:id/nodes/:node/remediation',
    tag: 'clusters',
    summary: "The node's latest GPU-fault remediation (workflow status and steps), or null",
    params: NodeParams,
    handler: async ({ params }) => {
      await cluster(params.id);
      return { remediation: await temporal().describe(params.id, params.node) };
    },
  });

  r.add({
    method: 'POST',
    url: '/api/v1/clusters/:id/nodes/:node/remediation',
    tag: 'clusters',
    summary: "An operator's decision for the node's running remediation (admin): release it to service, or keep it out",
    params: NodeParams,
    body: Decision,
    responses: { 202: '{sent: true}', 400: 'invalid decision', 403: 'not an admin', 404: 'no remediation running for the node' },
    access: 'admin',
    handler: async ({ principal, params, body, reply }) => {
      await cluster(params.id);
      const sent = await temporal().operator(params.id, params.node, { decision: body.decision, ...(body.note ? { note: body.note } : {}) });
      if (!sent) throw notFound(`a running remediation for node ${params.node} of cluster ${params.id}`);
      await audit(ctx.pool, principal.name, `node.remediation.${body.decision}`, `${params.id}/${params.node}`, { note: body.note ?? null });
      void reply.code(202);
      return { sent: true, cluster: params.id, node: params.node, decision: body.decision };
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/clusters/:id/remediation/breaker',
    tag: 'clusters',
    summary: "The cluster's quarantine circuit breaker: nodes quarantined by remediation, recent quarantines, tripped or not",
    params: IdParams,
    handler: async ({ params }) => {
      await cluster(params.id);
      return breakerState(ctx.pool, params.id);
    },
  });

  r.add({
    method: 'POST',
    url: '/api/v1/clusters/:id/remediation/breaker/reset',
    tag: 'clusters',
    summary: 'Close a tripped circuit breaker (admin); quarantined nodes stay quarantined',
    params: IdParams,
    access: 'admin',
    handler: async ({ principal, params }) => {
      await cluster(params.id);
      const s = await resetQuarantineBreaker(ctx.pool, params.id);
      await audit(ctx.pool, principal.name, 'cluster.breaker.reset', params.id);
      return s;
    },
  });
}
