// A stand-alone agent forwarder for the kill -9 test and the soak benchmark: appends deterministic batches
// to a WAL and forwards them. Restarted with the same arguments it resumes: the WAL replays what the hub did
// not acknowledge and batch numbering continues from the WAL's next sequence number.
//
//   node --import tsx forwarder-child.ts <walDir> <hubUrl> <token> <runId> <baseTs> <batches> <seriesPerBatch> <intervalMs>
// stdout: "appended <k>" after each append, "acked <samples>" after each acknowledged request, "done <samples>".
import { Forwarder } from '@meridian/edge-agent/telemetry/forwarder';
import { encodeWriteRequestProto } from '@meridian/protocol/telemetry/remote-write';
import type { TimeSeries } from '@meridian/protocol/telemetry/remote-write';
import { Wal } from '@meridian/edge-agent/telemetry/wal';

const [walDir, url, token, runId, baseTsArg, batchesArg, perBatchArg, intervalArg] = process.argv.slice(2);
if (!walDir || !url || !token || !runId || !baseTsArg || !batchesArg || !perBatchArg || !intervalArg) {
  console.error('usage: forwarder-child <walDir> <hubUrl> <token> <runId> <baseTs> <batches> <seriesPerBatch> <intervalMs>');
  process.exit(2);
}
const baseTs = Number(baseTsArg);
const batches = Number(batchesArg);
const perBatch = Number(perBatchArg);
const intervalMs = Number(intervalArg);

/** Batch k: one sample for each of perBatch series at baseTs + k × intervalMs. */
export function batch(k: number): TimeSeries[] {
  const out: TimeSeries[] = [];
  for (let i = 0; i < perBatch; i++) {
    out.push({
      labels: [
        { name: '__name__', value: 'meridian_test_forwarded' },
        { name: 'run', value: runId! },
        { name: 'series', value: String(i) },
      ],
      samples: [{ value: k, timestamp: baseTs + k * intervalMs }],
    });
  }
  return out;
}

const wal = Wal.open({ dir: walDir, fsync: 'interval', fsyncIntervalMs: 200 });
const fwd = new Forwarder({ wal, url, token, agentId: `child-${process.pid}`, minBackoffMs: 100, maxBackoffMs: 1000, maxBatchSamples: perBatch * 5 });
fwd.on('sent', (e: { samples: number }) => process.stdout.write(`acked ${e.samples}\n`));
fwd.start();
for (let k = wal.nextSeq; k < batches; k++) {
  wal.append(encodeWriteRequestProto({ timeseries: batch(k) }), perBatch);
  process.stdout.write(`appended ${k}\n`);
  await new Promise((r) => setTimeout(r, intervalMs));
}
await fwd.drain(120_000);
process.stdout.write(`done ${fwd.stats.sentSamples}\n`);
await fwd.stop();
wal.close();
