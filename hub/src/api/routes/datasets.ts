// The dataset registry: what jobs' `datasets` refer to (size, home) and where each one is cached. The scheduler
// uses it for data locality, and the hub prewarms caches where a job is placed away from its data.
import { z } from 'zod';
import { BOUNDS, DATASET_NAME_PATTERN } from '@meridian/protocol/bounds';
import { tx } from '../../store/db.ts';
import { audit } from '../../store/repos/audit.ts';
import { getCluster } from '../../store/repos/clusters.ts';
import { deleteCache, getDataset, listDatasets, setCache, upsertDataset } from '../../store/repos/datasets.ts';
import type { ApiContext } from '../context.ts';
import { badRequest, notFound } from '../errors.ts';
import type { Routes } from '../route.ts';
import { Name } from '../schemas.ts';

export const DatasetName = z
  .string({ message: 'name must be a string, e.g. "imagenet-1k"' })
  .min(1, 'name must not be empty')
  .max(BOUNDS.datasetNameLength.max, `name is at most ${BOUNDS.datasetNameLength.max} characters`)
  .regex(DATASET_NAME_PATTERN, 'name: use letters, digits, "-", "_" and ".", starting and ending with a letter or digit (the name jobs list under datasets)');

export const DatasetCreate = z
  .object({
    name: DatasetName,
    sizeBytes: z
      .number({ message: 'sizeBytes must be the dataset size in bytes, a whole number ≥ 0 (e.g. 150000000000 for 150 GB)' })
      .int('sizeBytes must be a whole number of bytes')
      .min(0, 'sizeBytes must be ≥ 0')
      .max(Number.MAX_SAFE_INTEGER, 'sizeBytes is too large'),
    homeRegion: Name.optional().describe('region of the original copy; defaults to the region of homeCluster'),
    homeCluster: Name.optional().describe('cluster holding the original copy (counts as a warm cache there)'),
  })
  .strict();

const NameParams = z.object({ name: DatasetName }).strict();
const CacheParams = z.object({ name: DatasetName, cluster: Name }).strict();
const CacheBody = z
  .object({ state: z.literal('cached', { message: "state must be 'cached' (the copy is already on the cluster); DELETE forgets a cache" }) })
  .strict();
const ListQuery = z
  .object({
    cluster: Name.optional().describe('only datasets with a cache row (cached, prewarming or failed) on this cluster'),
    after: DatasetName.optional().describe('the nextCursor of the previous page'),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  })
  .strict();

export function datasetRoutes(r: Routes, ctx: ApiContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/datasets',
    tag: 'datasets',
    summary: 'Register or update a dataset (admin): name, sizeBytes, and its home (homeCluster and/or homeRegion)',
    body: DatasetCreate,
    responses: { 200: 'updated', 201: 'registered', 400: 'invalid field (named in details)', 403: 'not an admin' },
    access: 'admin',
    handler: async ({ principal, body, reply }) => {
      let homeRegion = body.homeRegion;
      if (body.homeCluster) {
        const c = await getCluster(ctx.pool, body.homeCluster);
        if (!c) throw badRequest('invalid body', [{ path: 'homeCluster', message: `no cluster ${body.homeCluster}; register it first or give only homeRegion` }]);
        if (homeRegion && homeRegion !== c.region)
          throw badRequest('invalid body', [{ path: 'homeRegion', message: `cluster ${c.id} is in region ${c.region}, not ${homeRegion}; omit homeRegion or make them agree` }]);
        homeRegion = c.region;
      }
      if (!homeRegion) throw badRequest('invalid body', [{ path: 'homeRegion', message: 'give homeRegion (where the original copy lives) or homeCluster' }]);
      const region = homeRegion;
      const created = await tx(ctx.pool, async (c) => {
        const isNew = await upsertDataset(c, { name: body.name, sizeBytes: body.sizeBytes, homeRegion: region, homeCluster: body.homeCluster ?? null });
        await audit(c, principal.name, isNew ? 'dataset.create' : 'dataset.update', body.name, body);
        return isNew;
      });
      ctx.triggerSchedule();
      reply.code(created ? 201 : 200);
      return getDataset(ctx.pool, body.name);
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/datasets',
    tag: 'datasets',
    summary: 'Datasets by name with where each is cached (state cached, prewarming with percent, or failed with the reason)',
    query: ListQuery,
    handler: async ({ query }) => {
      const items = await listDatasets(ctx.pool, query);
      return { items, nextCursor: items.length === query.limit ? items[items.length - 1]!.name : null };
    },
  });

  r.add({
    method: 'GET',
    url: '/api/v1/datasets/:name',
    tag: 'datasets',
    summary: 'One dataset and its caches',
    params: NameParams,
    responses: { 200: 'the dataset', 404: 'no such dataset' },
    handler: async ({ params }) => {
      const d = await getDataset(ctx.pool, params.name);
      if (!d) throw notFound(`dataset ${params.name}`);
      return d;
    },
  });

  r.add({
    method: 'PUT',
    url: '/api/v1/datasets/:name/caches/:cluster',
    tag: 'datasets',
    summary: 'Record that a cluster already holds a copy (admin), e.g. data staged outside Meridian',
    params: CacheParams,
    body: CacheBody,
    responses: { 200: 'the dataset with its caches', 403: 'not an admin', 404: 'no such dataset or cluster' },
    access: 'admin',
    handler: async ({ principal, params }) => {
      if (!(await getDataset(ctx.pool, params.name))) throw notFound(`dataset ${params.name}`);
      if (!(await getCluster(ctx.pool, params.cluster))) throw notFound(`cluster ${params.cluster}`);
      await tx(ctx.pool, async (c) => {
        await setCache(c, params.name, params.cluster, 'cached', 100, null);
        await audit(c, principal.name, 'dataset.cache', params.name, { cluster: params.cluster });
      });
      ctx.triggerSchedule();
      return getDataset(ctx.pool, params.name);
    },
  });

  r.add({
    method: 'DELETE',
    url: '/api/v1/datasets/:name/caches/:cluster',
    tag: 'datasets',
    summary: 'Forget a cache copy (admin), e.g. after it was evicted; a later placement there prewarms again',
    params: CacheParams,
    responses: { 200: 'the dataset with its caches', 403: 'not an admin', 404: 'no such dataset or cache' },
    access: 'admin',
    handler: async ({ principal, params }) => {
      const gone = await tx(ctx.pool, async (c) => {
        const ok = await deleteCache(c, params.name, params.cluster);
        if (ok) await audit(c, principal.name, 'dataset.uncache', params.name, { cluster: params.cluster });
        return ok;
      });
      if (!gone) throw notFound(`cache of dataset ${params.name} on cluster ${params.cluster}`);
      return getDataset(ctx.pool, params.name);
    },
  });
}
