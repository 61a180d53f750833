// Job specs as YAML, the way `POST /api/v1/jobs` (application/yaml) and `meridian job submit` read them: a spec
// written as YAML means what it means as JSON, and no YAML document, however odd, makes the validator throw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { parseJobSpec } from '@meridian/protocol/job-spec';

const RUNS = { numRuns: 200 };

const spec = fc.record(
  {
    name: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?$/),
    tasks: fc.integer({ min: -2, max: 5000 }),
    resources: fc.record({ cpu: fc.oneof(fc.constantFrom('500m', '0m', '2', 2, 0.5, 1e306), fc.double()), memory: fc.oneof(fc.constantFrom('16Gi', '0', '99999999999999999999999Ti', 1e308), fc.integer()) }, { requiredKeys: [] }),
    workload: fc.oneof(fc.record({ image: fc.constantFrom('busybox', 'ghcr.io/x/y:1') }), fc.record({ script: fc.string().map((s) => `#!/bin/sh\n${s}`) })),
    maxRuntime: fc.oneof(fc.constantFrom('10m', '2h', '99999999999d', '0s'), fc.integer({ min: -1, max: 40_000_000 })),
    labels: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 70 }), { maxKeys: 3 }),
    placement: fc.record({ clusters: fc.array(fc.string({ maxLength: 8 }), { maxLength: 2 }) }),
  },
  { requiredKeys: ['name', 'workload'] },
);

describe('job specs as YAML', () => {
  it('a spec written as YAML parses as the same spec written as JSON', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const fromYaml = parseJobSpec(YAML.parse(YAML.stringify(s)));
        const fromJson = parseJobSpec(JSON.parse(JSON.stringify(s)));
        // JSON has no infinities or NaN (they become null); only compare where both carry the same numbers
        if (JSON.stringify(s).includes('null')) return;
        expect(fromYaml).toEqual(fromJson);
      }),
      RUNS,
    );
  });

  it('any YAML document either fails to parse or gets an answer: a spec or field-named errors', () => {
    const doc = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.constantFrom('name: x\nworkload: {image: i}\nmaxRuntime: .inf\n', 'name: x\nresources: {cpu: .nan}\n', '&a [*a]', 'name: !!binary aGk=\n', '- 1\n- 2\n', 'name: "\\0"\n', 'name: "\\ud800"\n'),
    );
    fc.assert(
      fc.property(doc, (text) => {
        let value: unknown;
        try {
          value = YAML.parse(text);
        } catch {
          return; // the hub answers 400 "not valid YAML" before the validator
        }
        const r = parseJobSpec(value);
        if (!r.ok) for (const e of r.errors) expect(e.path.length * e.message.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });
});
