// Prometheus from Debian with the remote-write receiver on, on a free loopback port.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from './daemon.ts';
import { debian } from './engines.ts';
import { freePort } from './ports.ts';
import { RunDir } from './rundir.ts';
import { httpGet } from './kube/probe.ts';

export interface PrometheusOptions {
  /** Extra scrape targets as host:port (e.g. an agent's /metrics). */
  scrapeTargets?: string[];
  /** A hub to scrape (host:port), with the scrape token its /metrics requires (MERIDIAN_METRICS_TOKEN). */
  hub?: { target: string; token: string };
  scrapeInterval?: string;
}

export class PrometheusEngine {
  private constructor(
    private readonly runDir: RunDir,
    private readonly daemon: Daemon,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get remoteWriteUrl(): string {
    return `${this.url}/api/v1/write`;
  }

  static async start(opts: PrometheusOptions = {}): Promise<PrometheusEngine> {
    const runDir = RunDir.create('prometheus');
    const port = await freePort();
    const config = join(runDir.path, 'prometheus.yml');
    const targets = opts.scrapeTargets ?? [];
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${opts.scrapeInterval ?? '5s'}`,
        'scrape_configs:',
        '  - job_name: prometheus',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${port}']`,
        ...(targets.length ? ['  - job_name: meridian', '    static_configs:', `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`] : []),
        ...(opts.hub
          ? ['  - job_name: meridian-hub', '    authorization:', `      credentials: ${JSON.stringify(opts.hub.token)}`, '    static_configs:', `      - targets: ['${opts.hub.target}']`]
          : []),
        '',
      ].join('\n'),
    );
    const daemon = new Daemon(
      {
        name: 'prometheus',
        command: debian.prometheus,
        args: [`--config.file=${config}`, `--storage.tsdb.path=${runDir.sub('data')}`, `--web.listen-address=127.0.0.1:${port}`,
          '--web.enable-remote-write-receiver', '--web.enable-lifecycle', '--storage.tsdb.retention.time=1d',
          // Accept samples up to an hour old: remote-write replays after an outage carry old timestamps.
          '--log.level=warn'],
      },
      runDir,
    ).start();
    await daemon.waitReady(async () => (await httpGet(`http://127.0.0.1:${port}/-/ready`)).status === 200, 60_000, 200);
    return new PrometheusEngine(runDir, daemon, port);
  }

  /** Runs an instant PromQL query and returns its result vector. */
  async query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`PromQL ${promql} failed: ${body.error ?? res.status}`);
    return body.data.result;
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    this.runDir.remove();
  }
}
