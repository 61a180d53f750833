import { describe, expect, it } from 'vitest';
import { Command, CommandFrame, SignalCommand } from '@meridian/protocol/agent-protocol';
import { cancelGraceAfter, checkpointWaitSeconds } from './checkpoint-signal.ts';
import type { SignalOutcome } from './checkpoint-signal.ts';

describe('agent protocol: the signal command', () => {
  it('accepts a trappable signal name and defaults the reason', () => {
    expect(Command.parse({ kind: 'signal', jobId: '7', attempt: 2, signal: 'SIGUSR1' })).toEqual({ kind: 'signal', jobId: '7', attempt: 2, signal: 'SIGUSR1', reason: '' });
    expect(CommandFrame.parse({ v: 1, type: 'command', seq: 3, command: { kind: 'signal', jobId: '7', attempt: 1, signal: 'SIGTERM', reason: 'GPU fault' } }).command).toMatchObject({ kind: 'signal' });
  });

  it.each([
    ['USR1', /signal: "USR1" is not a signal a job can trap; use one of SIGUSR1, .*SIG prefix/],
    ['SIGKILL', /signal: "SIGKILL" is not a signal a job can trap/],
    ['SIGSTOP', /signal: "SIGSTOP"/],
    ['sigusr1', /signal: "sigusr1"/],
    [10, /signal: 10 is not a signal/],
    [undefined, /signal: missing; use one of SIGUSR1/],
  ])('refuses signal %j with an error naming the field and the fix', (signal, message) => {
    const r = SignalCommand.safeParse({ kind: 'signal', jobId: '7', attempt: 1, signal });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['signal']);
    expect(r.error!.issues[0]!.message).toMatch(message);
  });

  it('refuses a signal command without a job or attempt', () => {
    const r = Command.safeParse({ kind: 'signal', jobId: '', attempt: 0, signal: 'SIGUSR1' });
    expect(r.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['attempt', 'jobId']);
  });
});

describe('checkpoint wait and the requeue grace', () => {
  const o = (graceSeconds: number, delivery: SignalOutcome['delivery']): SignalOutcome => ({ jobId: 'j', attempt: 1, signal: 'SIGUSR1', graceSeconds, delivery });

  it('waits the longest grace among delivered jobs, bounded', () => {
    expect(checkpointWaitSeconds([o(5, 'process'), o(30, 'annotation'), o(600, 'none')], 120)).toBe(30);
    expect(checkpointWaitSeconds([o(300, 'process')], 120)).toBe(120);
    expect(checkpointWaitSeconds([o(60, 'none')], 120)).toBe(0);
    expect(checkpointWaitSeconds([], 120)).toBe(0);
  });

  it('does not signal twice: a delivered process signal leaves the cancel without grace', () => {
    expect(cancelGraceAfter('process', 60)).toBe(0);
    expect(cancelGraceAfter('annotation', 60)).toBe(60);
    expect(cancelGraceAfter('none', 60)).toBe(60);
    expect(cancelGraceAfter(undefined, 60)).toBe(60);
  });
});
