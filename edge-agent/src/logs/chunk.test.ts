import { describe, expect, it } from 'vitest';
import { LOGS_CHUNK_BYTES } from '@meridian/protocol/agent-protocol';
import { followDetail, lastLines, tailDetail } from './chunk.ts';

describe('lastLines', () => {
  it('keeps the last n lines, with or without a final newline', () => {
    expect(lastLines('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(lastLines('a\nb\nc', 2)).toBe('b\nc');
    expect(lastLines('a\nb\n', 5)).toBe('a\nb\n');
    expect(lastLines('', 3)).toBe('');
    expect(lastLines('x\n', 0)).toBe('');
  });
});

describe('tailDetail', () => {
  it('ends at the size and drops a cut first line', () => {
    const bytes = Buffer.from('lo\nworld\nend\n');
    expect(tailDetail(bytes, 100, 10, false)).toEqual({ text: 'world\nend\n', offset: 100 + bytes.length, finished: false });
    expect(tailDetail(Buffer.from('hello\n'), 0, 10, true)).toEqual({ text: 'hello\n', offset: 6, finished: true });
  });
  it('counts bytes, not characters', () => {
    expect(tailDetail(Buffer.from('héllo\n'), 0, 1, false).offset).toBe(7);
  });
});

describe('followDetail', () => {
  it('sends complete lines while the task runs and the rest when it ended', () => {
    expect(followDetail(Buffer.from('one\ntw'), 10, false)).toEqual({ text: 'one\n', offset: 14, finished: false });
    expect(followDetail(Buffer.from('tw'), 14, false)).toEqual({ text: '', offset: 14, finished: false });
    expect(followDetail(Buffer.from('two'), 14, true)).toEqual({ text: 'two', offset: 17, finished: true });
  });
  it('caps a chunk and is not finished until the end was sent', () => {
    const big = Buffer.alloc(LOGS_CHUNK_BYTES + 10, 0x61);
    const d = followDetail(big, 0, true);
    expect(d.offset).toBe(LOGS_CHUNK_BYTES);
    expect(d.finished).toBe(false);
  });
});
