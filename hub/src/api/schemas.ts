// Request schemas of the REST API (the job spec itself lives in protocol/src/job-spec.ts).
import { z } from 'zod';
import { JOB_STATES, TIERS } from '@meridian/protocol/job-spec';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const Name = z.string().min(1).max(63).regex(NAME, 'use lowercase letters, digits and "-", starting and ending with a letter or digit');
export const JobId = z.string().regex(/^\d{1,18}$/, 'job ids are decimal numbers');
export const UserRef = z.string().min(1).max(63);

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
  cluster: z.string().min(1).max(63).optional(),
  name: z.string().min(1).max(63).optional(),
  user: UserRef.optional(),
}).strict();

const Price = z.object({ onDemand: z.number().nonnegative(), spot: z.number().nonnegative().optional() }).strict();
const Link = z.object({ region: z.string().min(1), bandwidthBytesPerSec: z.number().positive(), egressUsdPerGB: z.number().nonnegative() }).strict();

export const ProjectCreate = z
  .object({
    name: Name,
    weight: z.number().positive().max(1e6).default(1),
    quota: z.object({ totalGpus: z.number().int().nonnegative().optional(), perModel: z.record(z.string(), z.number().int().nonnegative()).optional() }).strict().optional(),
    budget: z.object({ gpuHours: z.number().nonnegative().optional(), usd: z.number().nonnegative().optional() }).strict().optional(),
    priceOverrides: z.record(z.string(), Price).optional(),
    policy: z.enum(['inventory-first', 'cost-first', 'locality-first', 'balanced']).optional(),
    weights: z.object({ cost: z.number().nonnegative(), locality: z.number().nonnegative(), inventory: z.number().nonnegative() }).strict().optional(),
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
    email: z.string().max(254).regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an email address, e.g. mia@example.com').optional(),
    isAdmin: z.boolean().default(false),
    projects: z.record(Name, Role).default({}).describe('project → role'),
  })
  .strict();

export const TokenCreate = z.object({ name: z.string().max(100).default('') }).strict();

export const ClusterCreate = z
  .object({
    id: Name,
    region: z.string().min(1).max(63),
    kind: z.enum(['kubernetes', 'slurm']),
    prices: z.record(z.string(), Price).default({}).describe('GPU model → $ per GPU-hour'),
    links: z.array(Link).max(256).default([]),
  })
  .strict();

export const LogsQuery = z
  .object({ task: z.coerce.number().int().min(0).max(4095).default(0), tail: z.coerce.number().int().min(1).max(10_000).default(200) })
  .strict();
export const EventsQuery = z.object({ after: z.string().regex(/^\d{1,18}$/).optional(), limit: z.coerce.number().int().min(1).max(1000).default(200) }).strict();
