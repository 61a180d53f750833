// Properties of the job-spec parser: whatever arrives (JSON, YAML-decoded values, broken specs) it answers with a
// value or with field-named errors, never an exception; a parsed spec parses again to itself; the unit parsers
// are monotonic and stay within the bounds table.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BOUNDS, CHECKPOINT_SIGNALS } from './bounds.ts';
import { cpuMilli, durationSec, memoryMiB, parseJobSpec } from './job-spec.ts';

const RUNS = { numRuns: 300 };

const nameArb = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const validSpec = fc.record(
  {
    name: nameArb,
    project: nameArb,
    tier: fc.constantFrom('realtime', 'batch', 'interruptible', 'filler'),
    priority: fc.integer({ min: -1000, max: 1000 }),
    tasks: fc.integer({ min: 1, max: 4096 }),
    resources: fc.record(
      {
        cpu: fc.oneof(fc.integer({ min: 1, max: 1_024_000 }).map((m) => `${m}m`), fc.integer({ min: 1, max: 1024 })),
        memory: fc.oneof(fc.integer({ min: 1, max: 65536 }).map((g) => `${g}Gi`), fc.integer({ min: 1, max: 1 << 20 })),
        gpus: fc.integer({ min: 0, max: 64 }),
        rdma: fc.integer({ min: 0, max: 16 }),
        gpuModels: fc.array(fc.stringMatching(/^[A-Z0-9][A-Z0-9-]{0,15}$/), { maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
    workload: fc.oneof(
      fc.record({ image: fc.stringMatching(/^[a-z][a-z0-9./:-]{0,30}$/), command: fc.array(fc.string(), { minLength: 1, maxLength: 4 }), env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), fc.string()) }),
      fc.record({ script: fc.string({ minLength: 1 }).map((s) => `#!/bin/sh\n${s}`) }),
    ),
    datasets: fc.array(fc.record({ name: fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?$/), sizeBytes: fc.nat() }), { maxLength: 3 }),
    maxRuntime: fc.integer({ min: 3600, max: BOUNDS.runtimeSec.max }),
    expectedRuntime: fc.integer({ min: 1, max: 3600 }),
    checkpoint: fc.record({ signal: fc.constantFrom(...CHECKPOINT_SIGNALS), graceSeconds: fc.integer({ min: 0, max: 3600 }) }),
    labels: fc.dictionary(fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,10}[a-z0-9])?$/), fc.stringMatching(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?$/), { maxKeys: 5 }),
    annotations: fc.dictionary(fc.stringMatching(/^[a-z0-9]{1,10}$/), fc.string(), { maxKeys: 5 }),
  },
  { requiredKeys: ['name', 'workload'] },
);

/** A value anywhere in a spec replaced by something arbitrary: the shapes real mistakes take. */
function mutate(spec: Record<string, unknown>, path: string[], value: unknown): unknown {
  if (!path.length) return value;
  const [head, ...rest] = path;
  const inner = spec[head!];
  return { ...spec, [head!]: rest.length && inner && typeof inner === 'object' ? mutate(inner as Record<string, unknown>, rest, value) : value };
}

const PATHS = [['name'], ['project'], ['tasks'], ['priority'], ['resources', 'cpu'], ['resources', 'memory'], ['resources', 'gpus'], ['maxRuntime'], ['expectedRuntime'], ['checkpoint', 'signal'], ['datasets'], ['labels'], ['annotations'], ['workload', 'script'], ['workload', 'env'], ['placement', 'clusters']];
const wild = fc.oneof(fc.jsonValue(), fc.constantFrom(Infinity, -Infinity, NaN, 1e308, -0, '\u0000', '\ud800', '0', '0m', '99999999999d', '../..', ''), fc.string({ unit: 'binary' }));

function checkAnswer(input: unknown) {
  const r = parseJobSpec(input);
  if (!r.ok) {
    expect(r.errors.length).toBeGreaterThan(0);
    for (const e of r.errors) {
      expect(typeof e.path).toBe('string');
      expect(e.path.length).toBeGreaterThan(0);
      expect(e.message.length).toBeGreaterThan(0);
      expect(e.message).not.toMatch(/^Invalid input$/);
    }
  }
  return r;
}

describe('parseJobSpec properties', () => {
  it('never throws on any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => void checkAnswer(v)), RUNS);
  });

  it('a valid spec is accepted, within bounds, and parses again to itself', () => {
    fc.assert(
      fc.property(validSpec, (s) => {
        const r = checkAnswer(s);
        expect(r.ok, JSON.stringify(!r.ok && r.errors)).toBe(true);
        if (!r.ok) return;
        const v = r.value;
        expect(v.resources.cpu).toBeGreaterThanOrEqual(BOUNDS.cpuMilli.min);
        expect(v.resources.cpu).toBeLessThanOrEqual(BOUNDS.cpuMilli.max);
        expect(v.resources.memory).toBeLessThanOrEqual(BOUNDS.memoryMiB.max);
        expect(Number.isInteger(v.maxRuntime)).toBe(true);
        // written back with its units (a bare cpu number means cores, the parsed one is millicores)
        const written = { ...v, resources: { ...v.resources, cpu: `${v.resources.cpu}m`, memory: `${v.resources.memory}Mi` }, maxRuntime: `${v.maxRuntime}s` };
        const again = parseJobSpec(JSON.parse(JSON.stringify(written)));
        expect(again.ok).toBe(true);
        if (again.ok) expect(again.value).toEqual(v);
      }),
      RUNS,
    );
  });

  it('a valid spec with one field broken answers with field-named errors, never an exception', () => {
    fc.assert(
      fc.property(validSpec, fc.constantFrom(...PATHS), wild, (s, path, value) => {
        const r = checkAnswer(mutate(s, path, value));
        // a broken value is either still valid (e.g. a string name) or refused at (or under) the field it broke
        if (!r.ok) expect(r.errors.some((e) => e.path.startsWith(path[0]!) || e.path === '(root)' || e.path.startsWith('workload'))).toBe(true);
      }),
      RUNS,
    );
  });

  it('no string with a NUL or a lone surrogate gets through, wherever it is', () => {
    fc.assert(
      fc.property(validSpec, fc.constantFrom<string[]>(['name'], ['workload', 'script'], ['labels', 'k'], ['annotations', 'a'], ['datasets']), fc.constantFrom('\u0000', '\ud800', '\udfff'), (s, path, bad) => {
        const value = path[0] === 'datasets' ? [{ name: `d${bad}` }] : `x${bad}`;
        expect(parseJobSpec(mutate(s, path, value)).ok).toBe(false);
      }),
      RUNS,
    );
  });
});

describe('unit parsers: monotonic and bounded', () => {
  const parse = (schema: typeof cpuMilli, v: unknown): number | undefined => {
    const r = schema.safeParse(v);
    return r.success ? r.data : undefined;
  };
  const units = <T extends string>(xs: T[]) => fc.constantFrom(...xs);

  it('memory: a larger amount in the same unit is never less memory; every answer is within bounds', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1e9, noNaN: true }), units(['', 'Ki', 'Mi', 'Gi', 'Ti', 'K', 'M', 'G', 'T']), (a, b, u) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const pl = parse(memoryMiB, `${lo.toFixed(3)}${u}`);
        const ph = parse(memoryMiB, `${hi.toFixed(3)}${u}`);
        for (const p of [pl, ph]) if (p !== undefined) expect(p >= 1 && p <= BOUNDS.memoryMiB.max && Number.isInteger(p)).toBe(true);
        if (pl !== undefined && ph !== undefined) expect(pl).toBeLessThanOrEqual(ph);
        if (pl !== undefined && lo.toFixed(3) !== hi.toFixed(3)) expect(ph === undefined || ph >= pl).toBe(true);
      }),
      RUNS,
    );
  });

  it('cpu: cores and millicores agree, monotonic, within bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 2_000_000 }), (a, b) => {
        const pa = parse(cpuMilli, `${a}m`);
        const pb = parse(cpuMilli, `${b}m`);
        expect(pa === undefined).toBe(a < 1 || a > BOUNDS.cpuMilli.max);
        if (pa !== undefined) expect(pa).toBe(a);
        if (pa !== undefined && pb !== undefined && a <= b) expect(pa).toBeLessThanOrEqual(pb);
        if (a % 1000 === 0 && pa !== undefined) expect(parse(cpuMilli, a / 1000)).toBe(pa);
      }),
      RUNS,
    );
  });

  it('durations: units agree (1m = 60s, 1h = 60m, 1d = 24h), monotonic, within bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), units(['s', 'm', 'h', 'd'] as const), (n, u) => {
        const mult = { s: 1, m: 60, h: 3600, d: 86400 }[u];
        const p = parse(durationSec, `${n}${u}`);
        const sec = n * mult;
        expect(p === undefined).toBe(sec < 1 || sec > BOUNDS.runtimeSec.max);
        if (p !== undefined) {
          expect(p).toBe(sec);
          expect(parse(durationSec, sec)).toBe(sec);
          const next = parse(durationSec, `${n + 1}${u}`);
          if (next !== undefined) expect(next).toBeGreaterThan(p);
        }
      }),
      RUNS,
    );
  });

  it('never throws on any string or number', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double(), fc.stringMatching(/^\d{0,40}(\.\d{0,5})?(Ki|Mi|Gi|Ti|m|s|h|d)?$/)), (v) => {
        for (const s of [memoryMiB, cpuMilli, durationSec]) {
          const r = s.safeParse(v);
          if (r.success) expect(Number.isFinite(r.data)).toBe(true);
          else expect(r.error.issues[0]!.message.length).toBeGreaterThan(0);
        }
      }),
      RUNS,
    );
  });
});
