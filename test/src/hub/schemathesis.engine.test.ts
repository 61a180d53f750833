// Schemathesis against the real hub: every operation of the OpenAPI document with every check on
// (server errors, undeclared status codes, response schemas and content types, negative data rejected,
// unsupported methods, ignored auth …). The run is bounded (a fixed number of examples per operation, a fixed
// seed) and must come back clean; on failure the test prints schemathesis' own report.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '@meridian/hub/main';
import type { Hub } from '@meridian/hub/main';
import { schemathesisBin } from '../harness/engines.ts';
import { PostgresEngine } from '../harness/postgres.ts';
import { TemporalEngine } from '../harness/temporal.ts';
import { ADMIN_TOKEN, Api, FAST, helloJob } from './helpers.ts';

const EXAMPLES = Number(process.env.SCHEMATHESIS_EXAMPLES ?? 25);
const SEED = Number(process.env.SCHEMATHESIS_SEED ?? 2323);
/** The run's hard limit (about 50 s on a quiet 2-core machine at 25 examples per operation). */
const LIMIT_S = Number(process.env.SCHEMATHESIS_LIMIT_S ?? 210);

// Schema-valid requests these operations refuse with a 400 naming the field, for rules a JSON Schema cannot
// state: a referenced project or cluster must exist, fields that bound each other, a body that depends on
// the operation named in the path. Everywhere else a schema-valid request must be accepted.
const CROSS_FIELD_RULES: [method: string, path: string][] = [
  ['POST', '/api/v1/jobs'],
  ['POST', '/api/v1/datasets'],
  ['POST', '/api/v1/users'],
  ['POST', '/api/v1/clusters/{id}/nodes/{node}/{op}'],
  // a task index past the job's own task count
  ['GET', '/api/v1/jobs/{id}/logs'],
];
// No state carried between runs (a run is the seed and this file), so every run tests the same cases.
const CONFIG = `[cache]\nenabled = false\n\n${CROSS_FIELD_RULES.map(
  ([method, path]) => `[[operations]]
include-method = "${method}"
include-path = "${path}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]
`,
).join('\n')}`;

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('schemathesis against the hub', () => {
  let pgEngine: PostgresEngine;
  let temporal: TemporalEngine;
  let hub: Hub;
  let dir: string;
  let token: string;

  beforeAll(async () => {
    [pgEngine, temporal] = await Promise.all([PostgresEngine.start(), TemporalEngine.start()]);
    // Generated jobs are refused with a 429 (declared): a job no cluster ever runs would keep its event stream
    // open for good and stall the run. The fixture project has its own bound.
    hub = await startHub({ databaseUrl: pgEngine.url, temporalAddress: temporal.address, ...FAST, logLevel: 'fatal', admission: { maxQueuedPerTier: {}, maxQueuedPerProject: 0, retryAfterSec: 1, maxSpecBytes: 256 * 1024 } });
    const admin = new Api(hub.url, ADMIN_TOKEN);
    // Fixtures, so generated ids sometimes name real things: a project with a member, a cluster, a dataset,
    // and a finished job (its event stream ends).
    await admin.post('/api/v1/projects', { name: 'ml', maxPending: 100 });
    await admin.post('/api/v1/users', { name: 'mia', projects: { ml: 'member' } });
    await admin.post('/api/v1/clusters', { id: 'gpu-east', region: 'us-east', kind: 'kubernetes' });
    await admin.post('/api/v1/datasets', { name: 'imagenet', sizeBytes: 1000, homeCluster: 'gpu-east' });
    const id = await admin.submitJob(helloJob('seed'));
    await admin.post(`/api/v1/jobs/${id}/cancel`);
    await admin.untilJobState(id, 'Cancelled', { ms: 60_000 });
    // The run's own admin token gets an id no generated one will hit: schemathesis revokes tokens by id.
    const db = new pg.Pool({ connectionString: pgEngine.url, max: 1 });
    await db.query(`SELECT setval(pg_get_serial_sequence('api_tokens', 'id'), 987654321)`);
    await db.end();
    await admin.post('/api/v1/users', { name: 'fuzz', isAdmin: true });
    token = (await admin.post<{ token: string }>('/api/v1/users/fuzz/tokens', { name: 'schemathesis' })).body.token;
    dir = mkdtempSync(join(tmpdir(), 'schemathesis-'));
    writeFileSync(join(dir, 'schemathesis.toml'), CONFIG);
  }, 180_000);
  afterAll(async () => {
    await hub?.stop();
    await Promise.all([pgEngine?.stop(), temporal?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds no server error, no undeclared status, no schema violation', async () => {
    const bin = schemathesisBin();
    expect(existsSync(bin), `${bin} is missing: run node scripts/setup.mjs`).toBe(true);
    const report = join(dir, 'report.json');
    const t0 = Date.now();
    const r = await run(
      bin,
      [
        '--config-file', join(dir, 'schemathesis.toml'),
        'run',
        `${hub.url}/api/v1/openapi.json`,
        '--checks', 'all',
        '--max-examples', String(EXAMPLES),
        '--seed', String(SEED),
        '--phases', 'examples,coverage,fuzzing',
        // one worker: hypothesis describes strategies with ast.parse, which Python 3.11 does not allow in threads at once
        '--workers', '1',
        '--request-timeout', '15',
        '--suppress-health-check', 'all',
        '--header', `Authorization: Bearer ${token}`,
        '--report', 'json',
        '--report-json-path', report,
        '--output-truncate', 'false',
        ...(process.env.SCHEMATHESIS_ARGS ?? '').split(' ').filter(Boolean),
      ],
      dir, // anything it writes stays out of the repository
      LIMIT_S * 1000,
    );
    const secs = Math.round((Date.now() - t0) / 1000);
    // schemathesis' own report: its errors, failures (each with a curl line to reproduce) and summary
    const starts = ['= ERRORS =', '= FAILURES =', '= SUMMARY ='].map((h) => r.out.indexOf(h)).filter((i) => i >= 0);
    const summary = r.out.slice(starts.length ? r.out.lastIndexOf('\n', Math.min(...starts)) + 1 : 0);
    if (process.env.SCHEMATHESIS_KEEP) console.log(r.out, existsSync(report) ? readFileSync(report, 'utf8') : '');
    console.log(`schemathesis: exit ${r.code} in ${secs}s`);
    expect(r.code, `schemathesis found problems (exit ${r.code}${r.code === null ? `: killed after ${LIMIT_S} s` : ''}):\n${summary.slice(-20_000)}`).toBe(0);
  }, LIMIT_S * 1000 + 30_000);
});
