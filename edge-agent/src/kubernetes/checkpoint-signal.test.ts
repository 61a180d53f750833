import { describe, expect, it } from 'vitest';
import { checkpointAnnotationValue, signalTargets } from './checkpoint-signal.ts';

describe('Kubernetes checkpoint request', () => {
  it('stamps <signal>@<RFC3339 UTC time, seconds>', () => {
    expect(checkpointAnnotationValue('SIGUSR1', new Date('2026-11-22T13:40:05.123Z'))).toBe('SIGUSR1@2026-11-22T13:40:05Z');
  });

  it('targets only pods that can still checkpoint', () => {
    const pod = (name: string, phase: string, deleting = false) => ({ metadata: { name, ...(deleting ? { deletionTimestamp: new Date() } : {}) }, status: { phase } });
    const names = signalTargets([pod('a', 'Running'), pod('b', 'Pending'), pod('c', 'Succeeded'), pod('d', 'Failed'), pod('e', 'Running', true)]).map((p) => p.metadata?.name);
    expect(names).toEqual(['a', 'b']);
  });
});
