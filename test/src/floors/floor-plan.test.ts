// The floor-plan rules (.dependency-cruiser.cjs) must catch what they promise to catch: this builds a small
// tree with one breach of each rule and checks that dependency-cruiser, run with the project's own rules,
// names every one of them. `npm run lint:floors` then runs the same rules over the real tree.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cruise } from 'dependency-cruiser';
import { repoPath } from '../packages.ts';

const require = createRequire(import.meta.url);
const rules = require(repoPath('.dependency-cruiser.cjs')) as { forbidden: { name: string }[] };

/** `import { names } from 'path';` — the breaches are written through this so no line of this file is one. */
const imp = (names: string, path: string) => `import { ${names} } from '${path}';\n`;

/** file → its text; every import is relative, so the tree needs no node_modules. */
const TREE: Record<string, string> = {
  'protocol/src/job.ts': imp('startHub', '../../hub/src/main.ts') + `export const x = startHub;\n`,
  'hub/src/main.ts': `export const startHub = 1;\n`,
  'hub/src/api/routes.ts': imp('a', '../../../edge-agent/src/agent.ts') + `export const r = a;\n`,
  'edge-agent/src/agent.ts': imp('h', '../../hub/src/gateway/link.ts') + imp('t', './agent.test.ts') + `export const a = h + t;\n`,
  'edge-agent/src/agent.test.ts': `export const t = 1;\n`,
  'hub/src/gateway/link.ts': `export const h = 1;\n`,
  'hub/src/scheduler/cycle.ts': imp('readFileSync', 'node:fs') + imp('db', '../store/db.ts') + `export const c = [readFileSync, db];\n`,
  'hub/src/store/db.ts': imp('r', '../api/routes.ts') + `export const db = r;\n`,
  'slurm-bridge/src/a.ts': imp('b', './b.ts') + `export const a = () => b;\n`,
  'slurm-bridge/src/b.ts': imp('a', './a.ts') + `export const b = () => a;\n`,
  'workflows/src/ok.ts': imp('x', '../../protocol/src/job.ts') + `export const ok = x;\n`,
};

describe('the floor-plan rules', () => {
  let dir: string;
  let found: { rule: string; from: string; to: string }[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meridian-floors-'));
    for (const [file, text] of Object.entries(TREE)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    // baseDir: the rules match paths relative to the folder cruised from
    const result = await cruise(['protocol', 'hub', 'edge-agent', 'slurm-bridge', 'workflows'], { baseDir: dir, ruleSet: { forbidden: rules.forbidden } as never, validate: true, tsPreCompilationDeps: true });
    const summary = (result.output as { summary: { violations: { rule: { name: string }; from: string; to: string }[] } }).summary;
    found = summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const has = (rule: string, from: string, to?: string) => found.some((v) => v.rule === rule && v.from === from && (to === undefined || v.to === to));

  it('refuses an import that points up the floors, or across to a neighbour on the same floor', () => {
    expect(has('floor-protocol', 'protocol/src/job.ts', 'hub/src/main.ts')).toBe(true);
    expect(has('floor-hub', 'hub/src/api/routes.ts', 'edge-agent/src/agent.ts')).toBe(true);
    expect(has('floor-edge-agent', 'edge-agent/src/agent.ts', 'hub/src/gateway/link.ts')).toBe(true);
  });

  it('refuses a relative path into another package, but not a downward import by name', () => {
    expect(has('no-relative-package-import', 'protocol/src/job.ts', 'hub/src/main.ts')).toBe(true);
    expect(has('no-relative-package-import', 'workflows/src/ok.ts')).toBe(true);
    expect(found.some((v) => v.rule.startsWith('floor-') && v.from === 'workflows/src/ok.ts')).toBe(false);
  });

  it('refuses cycles, I/O in the pure scheduler, the store reaching up, and shipped code importing tests', () => {
    expect(has('no-circular', 'slurm-bridge/src/a.ts')).toBe(true);
    expect(has('pure-scheduler', 'hub/src/scheduler/cycle.ts', 'fs')).toBe(true);
    expect(has('pure-scheduler', 'hub/src/scheduler/cycle.ts', 'hub/src/store/db.ts')).toBe(true);
    expect(has('store-is-the-bottom-of-the-hub', 'hub/src/store/db.ts', 'hub/src/api/routes.ts')).toBe(true);
    expect(has('no-test-code-in-products', 'edge-agent/src/agent.ts', 'edge-agent/src/agent.test.ts')).toBe(true);
  });

  it('has a rule for every floor', () => {
    const names = new Set(rules.forbidden.map((r) => r.name));
    for (const pkg of ['protocol', 'native', 'workflows', 'slurm-bridge', 'hub', 'edge-agent', 'test']) expect(names.has(`floor-${pkg}`), pkg).toBe(true);
  });
});
