// Elastic capacity: a cluster's power-save programs ask the hub before powering nodes up (Slurm's
// ResumeProgram → POST /api/v1/clusters/{id}/power) and tell it when they power nodes down. The hub grants
// from the cluster's power policy (max powered nodes, power-ups paused) and its own drains, and records
// every answer as a power event.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { decidePowerRequest, powerPolicy, updatePowerPolicy } from '../../power/service.ts';
import { clusterForCredential, getCluster } from '../../store/repos/clusters.ts';
import { listPowerEvents, poweredNodes } from '../../store/repos/power.ts';
import type { Principal } from '../../store/repos/users.ts';
import { requireAdmin } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { forbidden, notFound, unauthenticated } from '../errors.ts';
import type { Routes } from '../route.ts';
import { Name } from '../schemas.ts';

const NodeName = z.string().min(1).max(253).regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'a node name as the cluster reports it (one name, not a hostlist)');
const IdParams = z.object({ id: Name }).strict();
export const PowerRequest = z
  .object({
    action: z.enum(['resume', 'suspend'], { message: "action must be 'resume' (power the nodes up) or 'suspend' (they were powered down)" }),
    nodes: z.array(NodeName, { message: 'nodes must be a list of node names, e.g. ["gpu-0", "gpu-1"] (expand Slurm hostlists first)' }).min(1, 'give at least one node').max(4096, 'at most 4096 nodes per request'),
  })
  .strict();
export const PowerPolicyPatch = z
  .object({
    maxPoweredNodes: z.number({ message: 'maxPoweredNodes must be a whole number ≥ 0, or null for no limit' }).int('maxPoweredNodes must be a whole number').min(0).max(1_000_000).nullable().optional()
      .describe('the most elastic nodes powered at once; null = no limit'),
    allowResume: z.boolean({ message: 'allowResume must be true or false' }).optional().describe('false pauses every power-up of the cluster'),
  })
  .strict();
const EventsQuery = z
  .object({
    after: z.string().regex(/^\d{1,18}$/, 'use the nextCursor of the previous page').optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    node: NodeName.optional(),
  })
  .strict();

/** The cluster's own credential (what its power programs carry), or a hub administrator. */
async function powerCaller(ctx: ApiContext, req: FastifyRequest, principal: Principal | undefined, clusterId: string): Promise<void> {
  if (principal) {
    requireAdmin(principal);
    return;
  }
  const token = /^Bearer\s+(mrc_\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!token) throw unauthenticated(`send Authorization: Bearer <credential of cluster ${clusterId}> (the agent credential), or an admin token`);
  const cluster = await clusterForCredential(ctx.pool, token);
  if (!cluster) throw unauthenticated('unknown or rotated cluster credential; use the one POST /api/v1/clusters or /credential returned');
  if (cluster.id !== clusterId) throw forbidden(`this credential belongs to cluster ${cluster.id}, not ${clusterId}`);
}

export function powerRoutes(r: Routes, ctx: ApiContext): void {
  const cluster = async (id: string): Promise<void> => {
    if (!(await getCluster(ctx.pool, id))) throw notFound(`cluster ${id}`);
  };

  r.add({
    method: 'POST',
    url: '/api/v1/clusters/:id/power',
    tag: 'clusters',
    summary: "A power request from the cluster's power-save programs (cluster credential or admin): resume asks for capacity, suspend reports nodes powered down; 200 {approved, denied}",
    params: IdParams,
    body: PowerRequest,
    auth: false, // the cluster credential is not a user token: `access` checks either
    access: ({ req, principal, params }) => powerCaller(ctx, req, principal, params.id),
    responses: { 200: '{action, approved: [node], denied: [{node, reason}]}', 401: 'no or unknown credential', 403: "another cluster's credential, or not an admin", 404: 'no such cluster' },
    handler: async ({ req, params, body }) => {
      // access admitted an admin token, or this cluster's own credential
      const by = req.principal ? `user:${req.principal.name}` : `cluster:${params.id}`;
      await cluster(params.id);
      const decision = await decidePowerRequest(ctx.pool, params.id, body.action, body.nodes, by);
      if (decision.denied.length) ctx.log.info({ cluster: params.id, action: body.action, denied: decision.denied }, 'power request partly refused');
      return { action: body.action, ...decision };
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/clusters/:id/power',
    tag: 'clusters',
    summary: "The cluster's power policy and the elastic nodes the hub counts as powered",
    params: IdParams,
    handler: async ({ params }) => {
      await cluster(params.id);
      const [policy, powered] = await Promise.all([powerPolicy(ctx.pool, params.id), poweredNodes(ctx.pool, params.id)]);
      return { cluster: params.id, policy, powered };
    },
  });

  r.add({
    method: 'PUT',
    url: '/api/v1/clusters/:id/power/policy',
    tag: 'clusters',
    summary: "Set the cluster's power policy (admin): maxPoweredNodes (null = no limit), allowResume; omitted fields keep their value",
    params: IdParams,
    body: PowerPolicyPatch,
    responses: { 200: 'the policy now in force', 403: 'not an admin', 404: 'no such cluster' },
    access: 'admin',
    handler: async ({ principal, params, body }) => {
      await cluster(params.id);
      const policy = await updatePowerPolicy(ctx.pool, params.id, body, principal.name);
      return { cluster: params.id, policy };
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/clusters/:id/power/events',
    tag: 'clusters',
    summary: 'Power requests and the answers, oldest first (granted, or refused with the reason); page with `after`, filter with `node`',
    params: IdParams,
    query: EventsQuery,
    handler: async ({ params, query }) => {
      await cluster(params.id);
      const items = await listPowerEvents(ctx.pool, params.id, query.after ?? null, query.limit, query.node);
      return { items, nextCursor: items.length === query.limit ? items[items.length - 1]!.id : null };
    },
  });
}
