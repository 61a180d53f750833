// Properties of the Slurm output parsers the login node and the agents read: no input makes them throw
// anything but their ParseError, durations and sizes agree across units, hostlists expand like Slurm's.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandHostlist, HOSTLIST_MAX, parseDurationSec, parseMemoryMiB } from './common.ts';
import { parseKeyValueLine } from './kv.ts';
import { ParseError, parseParsableSubmit } from './scontrol.ts';
import { parseDelimited } from './squeue.ts';

const RUNS = { numRuns: 300 };

describe('Slurm parsers properties', () => {
  it('durations: D-HH:MM:SS agrees with arithmetic and grows with each part', () => {
    fc.assert(
      fc.property(fc.nat(400), fc.nat(23), fc.nat(59), fc.nat(59), (d, h, m, s) => {
        const pad = (n: number) => String(n).padStart(2, '0');
        expect(parseDurationSec(`${d}-${pad(h)}:${pad(m)}:${pad(s)}`)).toBe(d * 86400 + h * 3600 + m * 60 + s);
        expect(parseDurationSec(`${h}:${pad(m)}:${pad(s)}`)).toBe(h * 3600 + m * 60 + s);
        expect(parseDurationSec(`${m}`)).toBe(m * 60);
        expect(parseDurationSec(`${m + 1}`)!).toBeGreaterThan(parseDurationSec(`${m}`)!);
      }),
      RUNS,
    );
  });

  it('memory: units agree (1T = 1024G = 1048576M), and nothing throws', () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.string({ maxLength: 12 }), (n, junk) => {
        expect(parseMemoryMiB(`${n}G`)).toBe(parseMemoryMiB(`${n * 1024}M`));
        expect(parseMemoryMiB(`${n}T`)).toBe(n * 1024 * 1024);
        expect(parseMemoryMiB(`${n}`)).toBe(n);
        const j = parseMemoryMiB(junk);
        expect(j === null || Number.isFinite(j)).toBe(true);
        const t = parseDurationSec(junk);
        expect(t === null || Number.isFinite(t)).toBe(true);
      }),
      RUNS,
    );
  });

  it('hostlists: prefix[lo-hi] names hi-lo+1 nodes, zero-padded to the width written; nested ranges multiply', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z-]{0,6}$/), fc.nat(500), fc.nat(50), fc.nat(3), fc.nat(4), (p, lo, span, width, span2) => {
        const a = String(lo).padStart(width, '0');
        const names = expandHostlist(`${p}[${a}-${lo + span}]`);
        expect(names).toHaveLength(span + 1);
        expect(names[0]).toBe(`${p}${a}`);
        expect(expandHostlist(`${p}[${lo}-${lo + span}]x[0-${span2}],login`)).toHaveLength((span + 1) * (span2 + 1) + 1);
      }),
      RUNS,
    );
  });

  it('hostlists: any text expands without throwing and within the bound', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('n[0-99999999]', 'a[0-99999]b[0-99999]', 'x[', ']', '[]', 'n[5-1]')), (t) => {
        expect(expandHostlist(t).length).toBeLessThanOrEqual(HOSTLIST_MAX);
      }),
      { numRuns: 200 },
    );
  });

  it('key=value lines and delimited rows never throw anything but ParseError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (line) => {
        const kv = parseKeyValueLine(line, { greedy: ['Reason'] });
        for (const v of Object.values(kv)) expect(typeof v).toBe('string');
        for (const f of [() => parseDelimited(line, ['a', 'b'], '|'), () => parseParsableSubmit(line)]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(ParseError);
          }
        }
      }),
      RUNS,
    );
  });
});
