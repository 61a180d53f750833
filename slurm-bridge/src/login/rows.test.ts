// squeue rows from the hub's job view: Slurm's default order, array task rows and the pending range,
// pending reasons (held, dependency), code:signal exit codes.
import { describe, expect, it } from 'vitest';
import { formatSqueue } from './format.ts';
import { arrayRows, compressIndices, pendingReason, queueRowFromHub, squeueOrder, type HubJobView } from './rows.ts';
import { arrayIndices } from './sbatch-options.ts';

const view = (o: Partial<HubJobView> = {}): HubJobView => ({ id: '7', name: 'j', project: 'default', user: 'ana', state: 'Queued', spec: { annotations: {} }, ...o });

describe('squeue rows from the hub', () => {
  it('orders like Slurm: partition, state (pending first), priority (tier, then nice) highest first, then id', () => {
    const rows = [
      view({ id: '1', state: 'Running' }),
      view({ id: '2' }),
      view({ id: '3', priority: 5 }),
      view({ id: '4', tier: 'realtime' }),
      view({ id: '5', slurm: { partition: 'a' } }),
    ].map((v) => ({ v, r: queueRowFromHub(v, 0) }));
    expect(squeueOrder(rows).map((x) => x.r.jobId)).toEqual(['5', '4', '3', '2', '1']);
  });

  it('a job whose token names no user shows as nobody, as Slurm shows an unknown uid', () => {
    expect(queueRowFromHub(view({ user: null }), 0).user).toBe('nobody');
    expect(queueRowFromHub(view(), 0).user).toBe('ana');
  });

  it('pending reasons: held, dependency; exit code carries the signal', () => {
    expect(pendingReason(view({ held: true, reasonCode: 'JobHeldUser' }))).toBe('JobHeldUser');
    expect(pendingReason(view({ reasonCode: 'Dependency' }))).toBe('Dependency');
    expect(pendingReason(view({ spec: { annotations: { 'slurm.meridian.dev/hold': 'true' } }, reasonCode: 'New' }))).not.toBe('JobHeldUser');
    expect(queueRowFromHub(view({ state: 'Failed', exitCode: 0, slurm: { exitSignal: 9 } }), 0).exitCode).toBe('0:9');
  });

  it('an array: started tasks as N_i, the rest as one pending N_[range%limit] row (or one row each with -r)', () => {
    const v = view({ id: '123', state: 'Running', slurm: { array: '0-15%4', tasks: [0, 1, 2, 3].map((i) => ({ index: i, state: i === 0 ? 'Succeeded' : 'Running', node: `n${i}`, exitCode: null, signal: null })) } });
    const rows = arrayRows(v, queueRowFromHub(v, 0), arrayIndices('0-15%4'));
    expect(rows.map((r) => [r.displayId, r.state, r.reason])).toEqual([
      ['123_0', 'COMPLETED', 'None'],
      ['123_1', 'RUNNING', 'None'],
      ['123_2', 'RUNNING', 'None'],
      ['123_3', 'RUNNING', 'None'],
      ['123_[4-15%4]', 'PENDING', 'None'],
    ]);
    const queued = view({ id: '124', spec: { annotations: { 'slurm.meridian.dev/array': '1,3,5-7' } }, reasonCode: 'Resources' });
    expect(arrayRows(queued, queueRowFromHub(queued, 0), arrayIndices('1,3,5-7')).map((r) => r.displayId)).toEqual(['124_[1,3,5-7]']);
    expect(arrayRows(queued, queueRowFromHub(queued, 0), arrayIndices('1,3'), true).map((r) => r.displayId)).toEqual(['124_1', '124_3']);
    expect(compressIndices([0, 2, 4, 5, 6, 9])).toBe('0,2,4-6,9');
    expect(formatSqueue(rows.slice(-1), '%i %t %r', false)).toBe('123_[4-15%4] PD None\n');
  });

});
