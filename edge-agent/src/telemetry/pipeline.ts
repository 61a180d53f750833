// The agent's telemetry loop: every interval, collect → encode → append to the write-ahead buffer; the
// forwarder drains the buffer to the hub on its own. Backpressure from the buffer:
//   above the high watermark → keep only every `degradedEvery`-th scrape in the buffer (the /metrics registry
//     still refreshes every scrape), stretching how long an outage the disk can cover;
//   back at the low watermark → every scrape again;
//   buffer full → the scrape is dropped and counted (never blocks the collector, never grows memory).
import { Counter, Gauge } from 'prom-client';
import type { TelemetryCollector } from './collector.ts';
import type { Forwarder } from './forwarder.ts';
import { encodeWriteRequestProto } from '@meridian/protocol/telemetry/remote-write';
import { WalFullError } from './wal.ts';
import type { Wal } from './wal.ts';

export interface PipelineOptions {
  collector: TelemetryCollector;
  wal: Wal;
  forwarder: Forwarder;
  /** scrape interval (default 1000 ms) */
  intervalMs?: number;
  /** under backpressure keep one scrape in this many (default 4) */
  degradedEvery?: number;
}

export interface PipelineStats {
  scrapes: number;
  bufferedScrapes: number;
  bufferedSamples: number;
  skippedScrapes: number;
  droppedSamples: number;
  collectErrors: number;
}

export class TelemetryPipeline {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private tick = 0;
  readonly stats: PipelineStats = { scrapes: 0, bufferedScrapes: 0, bufferedSamples: 0, skippedScrapes: 0, droppedSamples: 0, collectErrors: 0 };
  private readonly buffered: Counter;
  private readonly dropped: Counter;
  private readonly pendingBytes: Gauge;

  constructor(private readonly opts: PipelineOptions) {
    const reg = opts.collector.registry;
    this.buffered = new Counter({ name: 'meridian_agent_telemetry_buffered_samples_total', help: 'Samples written to the write-ahead buffer.', registers: [reg] });
    this.dropped = new Counter({
      name: 'meridian_agent_telemetry_dropped_samples_total',
      help: 'Samples not buffered: the buffer was full, or skipped under backpressure.',
      labelNames: ['reason'],
      registers: [reg],
    });
    const wal = opts.wal;
    const fwd = opts.forwarder;
    this.pendingBytes = new Gauge({
      name: 'meridian_agent_telemetry_buffer_bytes',
      help: 'Unacknowledged bytes in the write-ahead buffer.',
      registers: [reg],
      collect() {
        this.set(wal.pendingBytes);
      },
    });
    new Gauge({
      name: 'meridian_agent_telemetry_backpressure',
      help: '1 while the buffer is above its high watermark.',
      registers: [reg],
      collect() {
        this.set(wal.backpressure ? 1 : 0);
      },
    });
    new Gauge({
      name: 'meridian_agent_telemetry_forwarded_samples',
      help: 'Samples the hub acknowledged since start.',
      registers: [reg],
      collect() {
        this.set(fwd.stats.sentSamples);
      },
    });
  }

  start(): void {
    if (this.timer) return;
    this.opts.forwarder.start();
    this.timer = setInterval(() => void this.scrapeOnce(), this.opts.intervalMs ?? 1000);
    void this.scrapeOnce();
  }

  /** One collect → buffer round (exposed for tests and benchmarks). */
  async scrapeOnce(): Promise<void> {
    if (this.busy) return; // a slow NVML read never stacks up scrapes
    this.busy = true;
    try {
      const scrape = await this.opts.collector.collect();
      this.stats.scrapes++;
      if (scrape.errors.length) this.stats.collectErrors++;
      if (scrape.samples === 0) return;
      const wal = this.opts.wal;
      if (wal.backpressure && this.tick++ % (this.opts.degradedEvery ?? 4) !== 0) {
        this.stats.skippedScrapes++;
        this.stats.droppedSamples += scrape.samples;
        this.dropped.inc({ reason: 'backpressure' }, scrape.samples);
        return;
      }
      try {
        wal.append(encodeWriteRequestProto({ timeseries: scrape.series }), scrape.samples);
        this.stats.bufferedScrapes++;
        this.stats.bufferedSamples += scrape.samples;
        this.buffered.inc(scrape.samples);
      } catch (err) {
        if (!(err instanceof WalFullError)) throw err;
        this.stats.droppedSamples += scrape.samples;
        this.dropped.inc({ reason: 'buffer_full' }, scrape.samples);
      }
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // a scrape in flight would append to the buffer after the caller closes it
    while (this.busy) await new Promise((r) => setTimeout(r, 5));
    await this.opts.forwarder.stop();
  }
}
