// Byte-offset log reading shared by the Kubernetes and Slurm drivers: the tail of a log with the offset where
// it ends, and a follower's next chunk. Offsets count UTF-8 bytes of the whole log, so a follower that asks
// "from offset N" gets every byte once, whichever driver answers.
import { LOGS_CHUNK_BYTES, type LogsDetail } from '@meridian/protocol/agent-protocol';

/** The last `lines` lines of `text` (a trailing newline does not count as an empty last line). */
export function lastLines(text: string, lines: number): string {
  if (lines <= 0 || text === '') return '';
  let end = text.endsWith('\n') ? text.length - 1 : text.length;
  let i = end;
  for (let n = 0; n < lines; n++) {
    const nl = text.lastIndexOf('\n', i - 1);
    if (nl < 0) return text;
    i = nl;
    end = i;
  }
  return text.slice(i + 1);
}

/**
 * The tail of a log whose bytes from `start` to its end (`size` = start + bytes.length) are `bytes`. When
 * `start > 0` the first line may be cut, so it is dropped unless it is all there is.
 */
export function tailDetail(bytes: Buffer, start: number, lines: number, finished: boolean): LogsDetail {
  let text = bytes.toString('utf8');
  if (start > 0) {
    const nl = text.indexOf('\n');
    if (nl >= 0 && nl < text.length - 1) text = text.slice(nl + 1);
  }
  return { text: lastLines(text, lines), offset: start + bytes.length, finished };
}

/**
 * A follower's next chunk: the bytes after `offset` (`rest`), at most LOGS_CHUNK_BYTES, ending at the last
 * complete line while the task still runs (a half-written line comes whole on the next ask). `finished` only
 * when the task has ended and everything up to the end was sent.
 */
export function followDetail(rest: Buffer, offset: number, taskEnded: boolean): LogsDetail {
  let take = rest.subarray(0, LOGS_CHUNK_BYTES);
  const all = take.length === rest.length;
  if (!(taskEnded && all)) {
    const nl = take.lastIndexOf(0x0a);
    // a line longer than a whole chunk goes out in pieces; otherwise wait for its end
    if (nl >= 0) take = take.subarray(0, nl + 1);
    else if (take.length < LOGS_CHUNK_BYTES) take = take.subarray(0, 0);
  }
  return { text: take.toString('utf8'), offset: offset + take.length, finished: taskEnded && all };
}
