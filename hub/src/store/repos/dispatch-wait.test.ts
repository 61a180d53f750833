// Which waiting dispatches are the job's own wish (never withdrawn) and which are the member disagreeing.
import { describe, expect, it } from 'vitest';
import { waitsByChoice } from './dispatch-wait.ts';

describe('waitsByChoice', () => {
  it('keeps a job that waits for its start time, a hold or a dependency on the member', () => {
    for (const r of ['BeginTime', '(BeginTime)', 'JobHeldUser', 'JobHeldAdmin', 'Dependency'])
      expect(waitsByChoice(`dispatched, waiting in hpc: ${r}`)).toBe(true);
  });

  it('withdraws one the member has no room or will for', () => {
    for (const r of ['Resources', 'Priority', 'ReqNodeNotAvail, UnavailableNodes:gpu-1', '3 of 4 tasks started; Unschedulable: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu.', 'dispatch sent, not yet reported by the member'])
      expect(waitsByChoice(`dispatched, waiting in east: ${r}`)).toBe(false);
    expect(waitsByChoice(null)).toBe(false);
    // the cluster's name is not the member's reason
    expect(waitsByChoice('dispatched, waiting in Dependency: Resources')).toBe(false);
  });
});
