import { describe, expect, it } from 'vitest';
import { decidePower, DEFAULT_POWER_POLICY } from './decide.ts';
import type { PowerState } from './decide.ts';

const state = (over: Partial<PowerState> = {}): PowerState => ({ policy: DEFAULT_POWER_POLICY, powered: new Set(), drained: new Map(), ...over });

describe('decidePower', () => {
  it('grants every resume without a limit, once per node', () => {
    expect(decidePower('hpc', 'resume', ['a', 'b', 'a'], state())).toEqual({ approved: ['a', 'b'], denied: [] });
  });

  it('grants up to maxPoweredNodes and names the budget when it refuses', () => {
    const d = decidePower('hpc', 'resume', ['b', 'c', 'd'], state({ policy: { maxPoweredNodes: 2, allowResume: true }, powered: new Set(['a']) }));
    expect(d.approved).toEqual(['b']);
    expect(d.denied.map((x) => x.node)).toEqual(['c', 'd']);
    expect(d.denied[0]!.reason).toMatch(/power budget: 2 of maxPoweredNodes=2/);
  });

  it('grants a node already counted as powered even at the limit (no new capacity)', () => {
    expect(decidePower('hpc', 'resume', ['a'], state({ policy: { maxPoweredNodes: 1, allowResume: true }, powered: new Set(['a']) }))).toEqual({ approved: ['a'], denied: [] });
  });

  it('maxPoweredNodes 0 refuses every power-up', () => {
    expect(decidePower('hpc', 'resume', ['a'], state({ policy: { maxPoweredNodes: 0, allowResume: true } })).approved).toEqual([]);
  });

  it('refuses nodes the hub drained, with the drain reason and how to undo it', () => {
    const d = decidePower('hpc', 'resume', ['a', 'b'], state({ drained: new Map([['a', 'meridian: xid 79']]) }));
    expect(d.approved).toEqual(['b']);
    expect(d.denied).toEqual([{ node: 'a', reason: expect.stringMatching(/drained a \(meridian: xid 79\).*\/api\/v1\/clusters\/hpc\/nodes\/a\/uncordon/) }]);
  });

  it('refuses every power-up while allowResume is false', () => {
    const d = decidePower('hpc', 'resume', ['a'], state({ policy: { maxPoweredNodes: null, allowResume: false } }));
    expect(d.denied[0]!.reason).toMatch(/paused.*allowResume=false/);
  });

  it('always grants suspends (the cluster already decided), even of drained nodes and with resumes paused', () => {
    expect(decidePower('hpc', 'suspend', ['a', 'b'], state({ policy: { maxPoweredNodes: 0, allowResume: false }, drained: new Map([['a', '']]) }))).toEqual({ approved: ['a', 'b'], denied: [] });
  });
});
