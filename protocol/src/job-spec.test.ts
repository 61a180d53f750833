import { describe, expect, it } from 'vitest';
import { parseJobSpec } from './job-spec.ts';

describe('job spec', () => {
  it('fills defaults and converts units', () => {
    const r = parseJobSpec({ name: 'hello-gpu', resources: { cpu: '500m', memory: '2Gi', gpus: 1, gpuModels: 'A100|H100' }, workload: { image: 'busybox' }, maxRuntime: '2h' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.resources).toMatchObject({ cpu: 500, memory: 2048, gpus: 1, gpuModels: ['A100', 'H100'] });
    expect(r.value.maxRuntime).toBe(7200);
    expect(r.value).toMatchObject({ project: 'default', tier: 'batch', tasks: 1 });
  });

  it('names the field and the fix for bad input', () => {
    const r = parseJobSpec({ name: 'Bad_Name', tasks: -2, resources: { memory: 'lots', gpus: 1, milliGpu: 500 }, workload: {}, colour: 'red' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.errors.map((e) => [e.path, e.message]));
    expect(byPath['name']).toMatch(/lowercase/);
    expect(byPath['tasks']).toMatch(/allowed 1\.\.4,096 tasks/);
    expect(byPath['resources.memory']).toMatch(/write e\.g\. 512Mi/);
    expect(byPath['workload.image']).toMatch(/container image/);
    expect(byPath['(root)']).toMatch(/unknown field.*"colour"/);
  });

  it('refuses whole and fractional GPUs together', () => {
    const r = parseJobSpec({ name: 'x', resources: { gpus: 1, milliGpu: 250 }, workload: { image: 'i' } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]?.path).toBe('resources.milliGpu');
  });
});
