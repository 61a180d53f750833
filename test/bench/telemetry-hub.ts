// Benchmark helper: the hub's telemetry receiver alone in its own process (so its CPU can be measured from
// outside), forwarding to the Prometheus-compatible URL given.
//   node --import tsx test/bench/telemetry-hub.ts <forwardUrl> [ackMode]
// Prints "listening <port>" once ready.
import { startReceiver } from '../src/doubles/telemetry-receiver.ts';

const forwardUrl = process.argv[2];
const ackMode = process.argv[3] === 'accepted' ? 'accepted' : 'forwarded';
if (!forwardUrl) {
  console.error('usage: telemetry-hub <forwardUrl> [forwarded|accepted]');
  process.exit(2);
}
const r = await startReceiver({
  tokens: { 'bench-token': { clusterId: 'bench', region: 'local' } },
  ingest: { prometheus: { url: forwardUrl, maxQueuedSamples: 5_000_000, maxBatchSamples: 50_000 }, limits: null, ackMode },
});
process.stdout.write(`listening ${r.port}\n`);
process.on('SIGTERM', () => void r.close().then(() => process.exit(0)));
