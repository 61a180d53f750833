import { describe, expect, it } from 'vitest';
import { SLURM_ANNOTATION_KEYS, SLURM_NODE_LABELS, slurmAnnotation, slurmAnnotationName } from './annotations.ts';
import { arraySpecIndices, parseArraySpec, validArraySpec } from './array-spec.ts';
import { dependencySeparator, dependencyTerm, HUB_DEPENDENCY_TYPES, SBATCH_DEPENDENCY_TYPES, SLURM_DRIVER_DEPENDENCY_TYPES } from './dependency.ts';

describe('Slurm annotation table', () => {
  it('names every key under one prefix and treats an empty value as unset', () => {
    expect(slurmAnnotationName('partition')).toBe('slurm.meridian.dev/partition');
    expect(slurmAnnotation({ 'slurm.meridian.dev/partition': 'gpu' }, 'partition')).toBe('gpu');
    expect(slurmAnnotation({ 'slurm.meridian.dev/partition': '' }, 'partition')).toBeUndefined();
    expect(slurmAnnotation(undefined, 'array')).toBeUndefined();
    expect(SLURM_ANNOTATION_KEYS.nodes).toBe('number');
    expect(SLURM_ANNOTATION_KEYS.hold).toBe('boolean');
    expect(Object.values(SLURM_NODE_LABELS).every((l) => l.startsWith('slurm.meridian.dev/'))).toBe(true);
  });
});

describe('--array grammar', () => {
  it('reads lists, ranges, steps and the limit', () => {
    expect(arraySpecIndices('0-15:4%2')).toEqual([0, 4, 8, 12]);
    expect(arraySpecIndices('7,1-3,3')).toEqual([1, 2, 3, 7]);
    expect(parseArraySpec('1-3%2')).toMatchObject({ limitText: '2', malformed: false, parts: [{ text: '1-3', range: { lo: 1, hi: 3, step: 1 } }] });
    expect(validArraySpec('0,6,16-32')).toBe(true);
  });

  it('refuses broken specs and bounds hostile ones', () => {
    for (const bad of ['', '%4', '1-3%x', '1-3%2%3', 'a', '1-', '5-3', '0-4:0', '1,,2']) expect(validArraySpec(bad), bad).toBe(false);
    expect(parseArraySpec('1-3%2%3').malformed).toBe(true);
    expect(parseArraySpec('x,2').parts[0]).toEqual({ text: 'x' });
    expect(arraySpecIndices('0-999999999').length).toBe(100_000);
    expect(arraySpecIndices('5-3')).toEqual([]);
    expect(arraySpecIndices('2-4:0')).toEqual([2]);
  });
});

describe('--dependency grammar', () => {
  it('splits terms by the one separator and keeps ids as written', () => {
    expect(dependencySeparator('afterok:1,afterany:2')).toEqual({ op: 'all', sep: ',', mixed: false });
    expect(dependencySeparator('afterok:1?afternotok:2')).toEqual({ op: 'any', sep: '?', mixed: false });
    expect(dependencySeparator('afterok:1?afterany:2,after:3').mixed).toBe(true);
    expect(dependencyTerm('after:12+10:13_2', HUB_DEPENDENCY_TYPES)).toEqual({ type: 'after', ids: ['12+10', '13_2'] });
  });

  it('refuses unknown types, missing ids and types a reader does not take', () => {
    expect(dependencyTerm('afterok:', HUB_DEPENDENCY_TYPES)).toBeUndefined();
    expect(dependencyTerm('afterok', HUB_DEPENDENCY_TYPES)).toBeUndefined();
    expect(dependencyTerm(':12', HUB_DEPENDENCY_TYPES)).toBeUndefined();
    expect(dependencyTerm('before:12', SBATCH_DEPENDENCY_TYPES)).toBeUndefined();
    expect(dependencyTerm('expand:12', SBATCH_DEPENDENCY_TYPES)).toEqual({ type: 'expand', ids: ['12'] });
    expect(dependencyTerm('expand:12', SLURM_DRIVER_DEPENDENCY_TYPES)).toBeUndefined();
    expect(dependencyTerm('afterburstbuffer:12', HUB_DEPENDENCY_TYPES)).toBeUndefined();
  });
});
