// Clusters (adding one returns its agent credential, once) and their nodes (read-only: agents report them).
import { z } from 'zod';
import { tx } from '../../store/db.ts';
import { audit } from '../../store/repos/audit.ts';
import { NodeCommand } from '@meridian/protocol/agent-protocol';
import type { Command } from '@meridian/protocol/agent-protocol';
import { enqueueCommand, getCommand } from '../../store/repos/agent-stream.ts';
import { createCluster, getCluster, listClusters, listNodes, rotateClusterCredential } from '../../store/repos/clusters.ts';
import type { ApiContext } from '../context.ts';
import { badRequest, notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { ClusterCreate, Name } from '../schemas.ts';

const IdParams = z.object({ id: Name }).strict();
const NODE_OPS = ['cordon', 'uncordon', 'drain', 'taint', 'untaint', 'label'] as const;
const NodeName = z.string().min(1).max(253).regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'a node name as the cluster reports it');
const NodeCommandParams = z.object({ id: Name, node: NodeName, op: z.enum(NODE_OPS) }).strict();
/** The body of a node command: NodeCommand (agent protocol) less kind/node/op, which come from the path. */
const NodeCommandBody = NodeCommand.pick({ reason: true, taint: true, labels: true, timeoutSeconds: true })
  .extend({ timeoutSeconds: z.number().int().positive().max(86_400).default(120) })
  .strict()
  .optional();
const CommandParams = z.object({ id: Name, commandId: z.string().regex(/^[1-9]\d{0,15}$/, 'a command id as returned by the node command endpoint') }).strict();

export function clusterRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/clusters',
    tag: 'clusters',
    summary: 'Add a member cluster (admin); the answer carries the agent credential, shown only once',
    body: ClusterCreate,
    responses: { 201: '{cluster, credential}', 409: 'exists' },
    access: 'admin',
    handler: async ({ principal, body, reply }) => {
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
    access: 'admin',
    handler: async ({ principal, params }) => {
      const credential = await rotateClusterCredential(ctx.pool, params.id);
      if (!credential) throw notFound(`cluster ${params.id}`);
      await audit(ctx.pool, principal.name, 'cluster.rotate', params.id);
      return { id: params.id, credential };
    },
  });
  r.add({
    method: 'POST',
    // the ops in the path itself, so another method on a sibling path (…/events) is a 405, not a bad op
    url: `/api/v1/clusters/:id/nodes/:node/:op(${NODE_OPS.map((o) => `^${o}$`).join('|')})`,
    tag: 'clusters',
    summary: 'Send a node command (cordon, uncordon, drain, taint, untaint, label) to the cluster\'s agent (admin); 202 {commandId}',
    params: NodeCommandParams,
    body: NodeCommandBody,
    responses: { 202: '{commandId, cluster, node, op}', 400: 'invalid command (details name the fields)', 403: 'not an admin', 404: 'no such cluster' },
    access: 'admin',
    handler: async ({ principal, params, body, reply }) => {
      const b = body ?? { reason: '', timeoutSeconds: 120 };
      if ((params.op === 'taint' || params.op === 'untaint') && !b.taint) throw badRequest(`${params.op} needs a taint`, [{ path: 'taint', message: 'give {key, value?, effect}' }]);
      if (params.op === 'label' && (!b.labels || Object.keys(b.labels).length === 0)) throw badRequest('label needs labels', [{ path: 'labels', message: 'give {name: value} (null removes a label)' }]);
      if (!(await getCluster(ctx.pool, params.id))) throw notFound(`cluster ${params.id}`);
      const command: Command = { kind: 'node', node: params.node, op: params.op, reason: b.reason, timeoutSeconds: b.timeoutSeconds, ...(b.taint ? { taint: b.taint } : {}), ...(b.labels ? { labels: b.labels } : {}) };
      const seq = await tx(ctx.pool, async (c) => {
        await audit(c, principal.name, `node.${params.op}`, `${params.id}/${params.node}`, { reason: b.reason });
        return enqueueCommand(c, params.id, command);
      });
      void reply.code(202).header('location', `/api/v1/clusters/${params.id}/commands/${seq}`);
      return { commandId: String(seq), cluster: params.id, node: params.node, op: params.op };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/clusters/:id/commands/:commandId',
    tag: 'clusters',
    summary: 'A command sent to the cluster\'s agent (admin): state pending | delivered | done, and the agent\'s result once it arrives',
    params: CommandParams,
    responses: { 200: '{commandId, state, command, result}', 404: 'no such command' },
    access: 'admin',
    handler: async ({ params }) => {
      const c = await getCommand(ctx.pool, params.id, Number(params.commandId));
      if (!c) throw notFound(`command ${params.commandId} of cluster ${params.id}`);
      const state = c.resultAt ? 'done' : c.ackedAt ? 'delivered' : 'pending';
      return { commandId: String(c.seq), cluster: params.id, kind: c.kind, command: c.command, state, createdAt: c.createdAt, deliveredAt: c.ackedAt, result: c.result, resultAt: c.resultAt };
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
