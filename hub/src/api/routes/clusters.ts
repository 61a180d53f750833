// Clusters (adding one returns its agent credential, once) and their nodes (read-only: agents report them).
import { z } from 'zod';
import { tx } from '../../store/db.ts';
import { audit } from '../../store/repos/audit.ts';
import { createCluster, getCluster, listClusters, listNodes, rotateClusterCredential } from '../../store/repos/clusters.ts';
import { requireAdmin } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { ClusterCreate, Name } from '../schemas.ts';

const IdParams = z.object({ id: Name }).strict();

export function clusterRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/clusters',
    tag: 'clusters',
    summary: 'Add a member cluster (admin); the answer carries the agent credential, shown only once',
    body: ClusterCreate,
    responses: { 201: '{cluster, credential}', 409: 'exists' },
    handler: async ({ principal, body, reply }) => {
      requireAdmin(principal);
      const out = await tx(ctx.pool, async (c) => {
        const created = await createCluster(c, body);
        await audit(c, principal.name, 'cluster.create', body.id, { region: body.region, kind: body.kind });
        return created;
      });
      void reply.code(201);
      return out;
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/clusters',
    tag: 'clusters',
    summary: 'Member clusters with agent connection state',
    handler: async () => ({ items: (await listClusters(ctx.pool)).map((c) => ({ ...c, agentConnected: ctx.gateway.connected(c.id) })), nextCursor: null }),
  });
  r.add({
    method: 'GET',
    url: '/api/v1/clusters/:id',
    tag: 'clusters',
    summary: 'One cluster',
    params: IdParams,
    handler: async ({ params }) => {
      const c = await getCluster(ctx.pool, params.id);
      if (!c) throw notFound(`cluster ${params.id}`);
      return { ...c, agentConnected: ctx.gateway.connected(c.id) };
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/clusters/:id/credential',
    tag: 'clusters',
    summary: 'Rotate the agent credential (admin); the old one stops working',
    params: IdParams,
    handler: async ({ principal, params }) => {
      requireAdmin(principal);
      const credential = await rotateClusterCredential(ctx.pool, params.id);
      if (!credential) throw notFound(`cluster ${params.id}`);
      await audit(ctx.pool, principal.name, 'cluster.rotate', params.id);
      return { id: params.id, credential };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/nodes',
    tag: 'clusters',
    summary: 'Nodes and GPUs as last reported by the agents',
    query: z.object({ cluster: Name.optional() }).strict(),
    handler: async ({ query }) => ({ items: await listNodes(ctx.pool, query.cluster), nextCursor: null }),
  });
}
