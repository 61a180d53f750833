import { describe, expect, it } from 'vitest';
import { BOUNDS, rangeText, unsafeStringReason, utf8Length } from './bounds.ts';
import { parseJobSpec } from './job-spec.ts';
import { arrayWithinBounds } from './slurm/array-spec.ts';

const base = { name: 'b', workload: { image: 'busybox' } };

/** Nonsense a spec must not carry: the field the error names, and what its message says. */
export const NONSENSE: { what: string; spec: Record<string, unknown>; path: string; says: RegExp }[] = [
  { what: 'cpu 1e306 cores', spec: { ...base, resources: { cpu: 1e306 } }, path: 'resources.cpu', says: /allowed 0\.001\.\.1,024 cores/ },
  { what: 'cpu "0m"', spec: { ...base, resources: { cpu: '0m' } }, path: 'resources.cpu', says: /"0m" is 0 millicores; allowed 1\.\.1,024,000 millicores/ },
  { what: 'cpu 0.0001 cores', spec: { ...base, resources: { cpu: 0.0001 } }, path: 'resources.cpu', says: /allowed 0\.001/ },
  { what: 'memory "0"', spec: { ...base, resources: { memory: '0' } }, path: 'resources.memory', says: /allowed 1\.\.67,108,864 MiB/ },
  { what: 'memory 1e308', spec: { ...base, resources: { memory: 1e308 } }, path: 'resources.memory', says: /allowed 1\.\.67,108,864 MiB/ },
  { what: 'memory "99999999999999999999999Ti"', spec: { ...base, resources: { memory: '99999999999999999999999Ti' } }, path: 'resources.memory', says: /allowed 1\.\.67,108,864 MiB/ },
  { what: 'maxRuntime 1e308', spec: { ...base, maxRuntime: 1e308 }, path: 'maxRuntime', says: /allowed 1\.\.31,536,000 seconds/ },
  { what: 'maxRuntime "99999999999d"', spec: { ...base, maxRuntime: '99999999999d' }, path: 'maxRuntime', says: /allowed 1\.\.31,536,000 seconds \(1s\.\.365d\)/ },
  { what: 'maxRuntime "0s"', spec: { ...base, maxRuntime: '0s' }, path: 'maxRuntime', says: /allowed 1\.\./ },
  { what: 'expectedRuntime > maxRuntime', spec: { ...base, maxRuntime: '1h', expectedRuntime: '2h' }, path: 'expectedRuntime', says: /longer than maxRuntime/ },
  { what: 'checkpoint signal SIGKILL', spec: { ...base, checkpoint: { signal: 'SIGKILL' } }, path: 'checkpoint.signal', says: /"SIGKILL" is not a signal a job can trap: one of SIGUSR1/ },
  { what: 'dataset ../../etc/passwd', spec: { ...base, datasets: [{ name: '../../etc/passwd' }] }, path: 'datasets[0].name', says: /no "\/" and no "\.\."/ },
  { what: 'dataset /data', spec: { ...base, datasets: [{ name: '/data' }] }, path: 'datasets[0].name', says: /no "\/"/ },
  { what: 'gpus 65', spec: { ...base, resources: { gpus: 65 } }, path: 'resources.gpus', says: /allowed 0\.\.64/ },
  { what: 'tasks 1e9', spec: { ...base, tasks: 1e9 }, path: 'tasks', says: /allowed 1\.\.4,096/ },
  { what: 'NUL in the script', spec: { name: 'b', workload: { script: '#!/bin/sh\necho \u0000' } }, path: 'workload.script', says: /NUL/ },
  { what: 'NUL in a label value', spec: { ...base, labels: { team: 'a\u0000' } }, path: 'labels.team', says: /NUL/ },
  { what: 'lone surrogate in an annotation', spec: { ...base, annotations: { note: 'x\ud800y' } }, path: 'annotations.note', says: /lone UTF-16 surrogate/ },
  { what: 'lone surrogate in an env value', spec: { ...base, workload: { image: 'i', env: { A: '\udc00' } } }, path: 'workload.env.A', says: /lone UTF-16 surrogate/ },
  { what: 'NUL in an annotation key', spec: { ...base, annotations: { 'a\u0000': 'v' } }, path: 'annotations.a\u0000', says: /NUL/ },
  { what: 'NUL in the image', spec: { name: 'b', workload: { image: 'busy\u0000box' } }, path: 'workload.image', says: /NUL/ },
  { what: 'unknown-cluster name pattern', spec: { ...base, placement: { clusters: ['Mars_1'] } }, path: 'placement.clusters[0]', says: /lowercase/ },
  { what: 'region too long', spec: { ...base, placement: { regions: ['r'.repeat(64)] } }, path: 'placement.regions[0]', says: /at most 63/ },
  { what: 'label value over 63', spec: { ...base, labels: { team: 'x'.repeat(64) } }, path: 'labels.team', says: /at most 63/ },
  { what: 'label key name over 63', spec: { ...base, labels: { ['k'.repeat(64)]: 'v' } }, path: `labels.${'k'.repeat(64)}`, says: /key .* is not allowed: its name must be 1\.\.63/ },
  { what: 'annotations over 256 KiB', spec: { ...base, annotations: { a: 'x'.repeat(200_000), b: 'y'.repeat(70_000) } }, path: 'annotations', says: /allowed 0\.\.262,144 bytes/ },
  { what: 'env value over 128 KiB', spec: { ...base, workload: { image: 'i', env: { BIG: 'x'.repeat(131_073) } } }, path: 'workload.env.BIG', says: /allowed 0\.\.131,072 bytes/ },
  { what: 'script over 4 MiB', spec: { name: 'b', workload: { script: `#!/bin/sh\n${'x'.repeat(4 * 1024 * 1024)}` } }, path: 'workload.script', says: /allowed 1\.\.4,194,304 bytes/ },
  { what: 'array beyond MaxArraySize', spec: { ...base, annotations: { 'slurm.meridian.dev/array': '0-999999999' } }, path: 'annotations.slurm.meridian.dev/array', says: /Invalid job array specification.*0\.\.1000/ },
  { what: 'Slurm job name over 1024 bytes', spec: { ...base, annotations: { 'slurm.meridian.dev/jobName': 'n'.repeat(1025) } }, path: 'annotations.slurm.meridian.dev/jobName', says: /at most 1,024 bytes/ },
  { what: 'image too long', spec: { name: 'b', workload: { image: 'i'.repeat(1025) } }, path: 'workload.image', says: /at most 1,024 characters/ },
  { what: 'grace over an hour', spec: { ...base, checkpoint: { graceSeconds: 3601 } }, path: 'checkpoint.graceSeconds', says: /allowed 0\.\.3,600 seconds/ },
  { what: 'maxRuntime Infinity (YAML .inf)', spec: { ...base, maxRuntime: Infinity }, path: 'maxRuntime', says: /Infinity is not a finite number; allowed 1\.\./ },
  { what: 'cpu NaN (YAML .nan)', spec: { ...base, resources: { cpu: NaN } }, path: 'resources.cpu', says: /NaN is not a finite number/ },
  { what: 'cpu as a boolean', spec: { ...base, resources: { cpu: true } }, path: 'resources.cpu', says: /expected a number or a string/ },
];

describe('bounds on every field of the job spec', () => {
  it.each(NONSENSE)('$what → an error on $path', ({ spec, path, says }) => {
    const r = parseJobSpec(spec);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const hit = r.errors.find((e) => e.path === path);
    expect(hit, JSON.stringify(r.errors)).toBeDefined();
    expect(hit!.message).toMatch(says);
  });

  it('takes the edges of each range', () => {
    const r = parseJobSpec({ ...base, resources: { cpu: '1m', memory: '64Ti', gpus: 64 }, maxRuntime: '365d', expectedRuntime: 31_536_000, tasks: 4096, datasets: [{ name: 'coco.2017' }], annotations: { 'slurm.meridian.dev/array': '0-1000%4' } });
    expect(r.ok, JSON.stringify(!r.ok && r.errors)).toBe(true);
    if (r.ok) expect(r.value.resources).toMatchObject({ cpu: 1, memory: 64 * 1024 * 1024 });
  });

  it('keeps whole units: durations and memory round up, cpu to the millicore', () => {
    const ok = parseJobSpec({ ...base, resources: { cpu: 0.0015, memory: 512.2 }, maxRuntime: '1.5s' });
    expect(ok.ok).toBe(true);
    if (ok.ok) expect([ok.value.resources.cpu, ok.value.resources.memory, ok.value.maxRuntime]).toEqual([2, 513, 2]);
  });

  it('accepts an array up to MaxArraySize and refuses beyond it', () => {
    expect(arrayWithinBounds('0-1000')).toBe(true);
    expect(arrayWithinBounds('1000')).toBe(true);
    expect(arrayWithinBounds('0-1001')).toBe(false);
    expect(arrayWithinBounds('0-10:1001')).toBe(false);
    expect(arrayWithinBounds(`${'1,'.repeat(2100)}1`)).toBe(false); // over 4096 characters
  });

  it('counts UTF-8 bytes and finds bad strings', () => {
    expect(utf8Length('aé€😀')).toBe(1 + 2 + 3 + 4);
    expect(unsafeStringReason('ok 😀')).toBeUndefined();
    expect(unsafeStringReason('a\u0000')).toMatch(/NUL/);
    expect(unsafeStringReason('\ud83d')).toMatch(/lone UTF-16 surrogate \(\\ud83d at position 0\)/);
    expect(unsafeStringReason('x\ude00')).toMatch(/\\ude00 at position 1/);
    expect(rangeText(BOUNDS.cpuMilli)).toBe('1..1,024,000 millicores');
  });
});
