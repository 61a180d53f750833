// --gpu-share-replicas: the time-slicing replicas per GPU the agent divides shares by; a bad value names the flag.
import { describe, expect, it } from 'vitest';
import { program } from './main.ts';

const parse = (args: string[]) => {
  let err = '';
  const p = program()
    .exitOverride()
    .configureOutput({ writeErr: (s) => (err += s), writeOut: () => undefined });
  p.action(() => undefined);
  try {
    p.parse(['node', 'edge-agent', '--hub-url', 'http://hub', '--cluster-id', 'c', ...args]);
  } catch {
    return { err };
  }
  return { opts: p.opts<{ gpuShareReplicas: number }>(), err };
};

describe('--gpu-share-replicas', () => {
  it('defaults to 10 and takes a whole number', () => {
    expect(parse([]).opts?.gpuShareReplicas).toBe(10);
    expect(parse(['--gpu-share-replicas', '4']).opts?.gpuShareReplicas).toBe(4);
  });

  it.each(['0', '2.5', 'ten'])('refuses %j naming the flag and the fix', (v) => {
    expect(parse(['--gpu-share-replicas', v]).err).toMatch(/--gpu-share-replicas.*whole number >= 1: the time-slicing replicas per GPU/);
  });
});
