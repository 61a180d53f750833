// Request schemas of the REST API (the job spec itself lives in protocol/src/job-spec.ts). Every string is a
// safeString (no NUL, no lone surrogate: Postgres cannot store them) and every field is bounded by the table in
// protocol/src/bounds.ts, so the OpenAPI document shows the same limits.
import { z } from 'zod';
import { BOUNDS } from '@meridian/protocol/bounds';
import { boundedNumber, boundedString, nameString, safeString } from '@meridian/protocol/fields';
import { JOB_STATES, TIERS } from '@meridian/protocol/job-spec';

export const Name = nameString();
export const JobId = z.string().regex(/^\d{1,18}$/, 'job ids are decimal numbers');
export const UserRef = boundedString(BOUNDS.nameLength);

export const Page = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().regex(/^\d{1,18}$/, 'use the nextCursor of the previous page').optional(),
});

export const JobListQuery = Page.extend({
  project: Name.optional(),
  state: z
    .string()
    // the pattern puts the allowed states in the OpenAPI document, so clients and fuzzers see the same rule
    .regex(new RegExp(`^ *(${JOB_STATES.join('|')}) *(, *(${JOB_STATES.join('|')}) *)*$`), `comma-separated states, each one of ${JOB_STATES.join(', ')}`)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(JOB_STATES)))
    .optional()
    .describe('comma-separated states'),
  tier: z.enum(TIERS).optional(),
  cluster: boundedString(BOUNDS.nameLength).optional(),
  name: boundedString(BOUNDS.nameLength).optional(),
  user: UserRef.optional(),
}).strict();

const usd = boundedNumber(BOUNDS.priceUsd);
const Price = z.object({ onDemand: usd, spot: usd.optional() }).strict();
const Link = z.object({ region: Name, bandwidthBytesPerSec: z.number().positive().max(1e15, 'at most 1e15 bytes per second (8 Pbit/s)'), egressUsdPerGB: usd }).strict();
/** GPU model → value: the key is a GPU model name as nodes report it. */
const byModel = <V extends z.ZodType>(v: V) =>
  z.record(boundedString(BOUNDS.gpuModelLength), v).refine((r) => Object.keys(r).length <= BOUNDS.prices.max, { message: `at most ${BOUNDS.prices.max} GPU models` });

export const ProjectCreate = z
  .object({
    name: Name,
    weight: z.number().positive().max(1e6).default(1),
    quota: z.object({ totalGpus: z.number().int().nonnegative().max(10_000_000).optional(), perModel: byModel(z.number().int().nonnegative().max(10_000_000)).optional() }).strict().optional(),
    budget: z.object({ gpuHours: z.number().nonnegative().max(1e12).optional(), usd: z.number().nonnegative().max(1e12).optional() }).strict().optional(),
    priceOverrides: byModel(Price).optional(),
    policy: z.enum(['inventory-first', 'cost-first', 'locality-first', 'balanced']).optional(),
    weights: z.object({ cost: z.number().nonnegative().max(1e6), locality: z.number().nonnegative().max(1e6), inventory: z.number().nonnegative().max(1e6) }).strict().optional(),
    maxPending: z.number().int().positive().max(10_000_000).optional(),
  })
  .strict();
export const ProjectPatch = ProjectCreate.omit({ name: true }).partial().strict();

export const Role = z.enum(['admin', 'member', 'viewer']);
export const MemberSet = z.object({ role: Role }).strict();

export const UserCreate = z
  .object({
    name: UserRef.regex(/^[a-zA-Z0-9._@-]+$/, 'letters, digits and . _ @ -'),
    // one explicit pattern (not the `email` format, whose checkers disagree at the edges)
    email: safeString().max(254).regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an email address, e.g. mia@example.com').optional(),
    isAdmin: z.boolean().default(false),
    projects: z.record(Name, Role).default({}).describe('project → role'),
  })
  .strict();

export const TokenCreate = z.object({ name: safeString().max(BOUNDS.tokenNameLength.max).default('') }).strict();

export const ClusterCreate = z
  .object({
    id: Name,
    region: Name,
    kind: z.enum(['kubernetes', 'slurm']),
    prices: byModel(Price).default({}).describe('GPU model → $ per GPU-hour'),
    links: z.array(Link).max(256).default([]),
  })
  .strict();

export const LogsQuery = z
  .object({
    task: z.coerce.number().int().min(0).max(4095).default(0),
    tail: z.coerce.number().int().min(1).max(10_000).default(200),
    follow: z
      .enum(['true', 'false', '1', '0'], { error: 'follow is true or false' })
      .default('false')
      .transform((v) => v === 'true' || v === '1')
      .describe('stream the log until the task has ended'),
  })
  .strict();
export const EventsQuery = z.object({ after: z.string().regex(/^\d{1,18}$/).optional(), limit: z.coerce.number().int().min(1).max(1000).default(200) }).strict();
