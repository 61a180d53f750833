// Deleting a project or a cluster archives it: the row and its history stay (jobs, usage, audit), it stops
// taking work. Refused with 409 while it still has work: a project with jobs that are not final, a cluster
// with live jobs or nodes not yet cordoned (meridian node cordon|drain). An archive is audited; a refusal, like
// every refused request, changes nothing.
import { z } from 'zod';
import { tx } from '../../store/db.ts';
import { audit } from '../../store/repos/audit.ts';
import { archiveCluster, clusterDrainState, getCluster } from '../../store/repos/clusters.ts';
import { archiveProject, getProject } from '../../store/repos/projects.ts';
import type { ApiContext } from '../context.ts';
import { conflict, notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { Name } from '../schemas.ts';

export function archiveRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'DELETE',
    url: '/api/v1/projects/:name',
    tag: 'projects',
    summary:
      'Archive a project (admin): no new jobs, memberships stop granting access, history stays readable by hub admins. ' +
      'Refused (409) while it has jobs that are not final; archiving an archived project answers 200 again.',
    params: z.object({ name: Name }).strict(),
    responses: { 200: '{name, archivedAt}', 404: 'no such project', 409: 'the project has live jobs (details give the count)' },
    access: 'admin',
    handler: async ({ principal, params }) => {
      const r2 = await tx(ctx.pool, async (c) => {
        const out = await archiveProject(c, params.name);
        if (out && 'archived' in out && out.archived === 'now') await audit(c, principal.name, 'project.archive', params.name);
        return out;
      });
      if (!r2) throw notFound(`project ${params.name}`);
      if ('liveJobs' in r2) {
        throw conflict(`project ${params.name} has ${r2.liveJobs} live job${r2.liveJobs === 1 ? '' : 's'}; cancel them or wait until they finish, then delete it again`, [
          { path: 'jobs', message: `${r2.liveJobs} job${r2.liveJobs === 1 ? ' is' : 's are'} not Succeeded, Failed or Cancelled (meridian job list --project ${params.name})` },
        ]);
      }
      const p = await getProject(ctx.pool, params.name);
      return { name: params.name, archivedAt: p?.archivedAt ?? null };
    },
  });

  r.add({
    method: 'DELETE',
    url: '/api/v1/clusters/:id',
    tag: 'clusters',
    summary:
      'Archive a drained cluster (admin): its agent credential is revoked (the open session ends) and nothing is placed on it again. ' +
      'Refused (409) while jobs are live on it or a node is not cordoned; archiving an archived cluster answers 200 again.',
    params: z.object({ id: Name }).strict(),
    responses: { 200: '{id, archivedAt}', 404: 'no such cluster', 409: 'the cluster is not drained (details name the live jobs and the nodes to cordon)' },
    access: 'admin',
    handler: async ({ principal, params }) => {
      type Outcome = { done: boolean } | { refused: { liveJobs: number; uncordoned: string[] } } | undefined;
      const out = await tx(ctx.pool, async (c): Promise<Outcome> => {
        const st = await clusterDrainState(c, params.id);
        if (!st) return undefined;
        if (st.archived) return { done: false };
        if (st.liveJobs > 0 || st.uncordoned.length > 0) return { refused: { liveJobs: st.liveJobs, uncordoned: st.uncordoned } };
        await archiveCluster(c, params.id);
        await audit(c, principal.name, 'cluster.archive', params.id);
        return { done: true };
      });
      if (!out) throw notFound(`cluster ${params.id}`);
      if ('refused' in out) {
        const st = out.refused;
        const details = [
          ...(st.liveJobs > 0 ? [{ path: 'jobs', message: `${st.liveJobs} live job${st.liveJobs === 1 ? '' : 's'} on the cluster; let them finish or cancel them (meridian job list --cluster ${params.id})` }] : []),
          ...(st.uncordoned.length > 0
            ? [{ path: 'nodes', message: `not cordoned: ${st.uncordoned.slice(0, 20).join(', ')}${st.uncordoned.length > 20 ? ` and ${st.uncordoned.length - 20} more` : ''}; run meridian node drain ${params.id} <node> for each` }]
            : []),
        ];
        throw conflict(`cluster ${params.id} is not drained: ${details.map((d) => d.path === 'jobs' ? `${st.liveJobs} live jobs` : `${st.uncordoned.length} nodes not cordoned`).join(', ')}`, details);
      }
      const c = await getCluster(ctx.pool, params.id);
      return { id: params.id, archivedAt: c?.archivedAt ?? null };
    },
  });
}
