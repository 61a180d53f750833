// A real Fastify server running the telemetry plugin, for engine tests, the benchmark and the sandbox.
import Fastify from 'fastify';
import { TelemetryIngest } from '@meridian/hub/telemetry/ingest';
import type { TelemetryIngestOptions } from '@meridian/hub/telemetry/ingest';
import { staticTokenAuthenticator, telemetryPlugin, TELEMETRY_WRITE_PATH } from '@meridian/hub/telemetry/plugin';
import type { Tenant } from '@meridian/hub/telemetry/tenant';

export interface RunningReceiver {
  url: string;
  writeUrl: string;
  port: number;
  ingest: TelemetryIngest;
  /** stops the HTTP server and the Prometheus queue (queued samples are lost: a hub crash) */
  close(): Promise<void>;
}

export async function startReceiver(opts: {
  port?: number;
  host?: string;
  tokens: Record<string, Tenant>;
  ingest?: TelemetryIngestOptions;
}): Promise<RunningReceiver> {
  const ingest = new TelemetryIngest(opts.ingest);
  ingest.start();
  const app = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(telemetryPlugin, { ingest, authenticate: staticTokenAuthenticator(opts.tokens), authorizeQuery: () => true });
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ port: opts.port ?? 0, host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = `http://${host}:${port}`;
  return {
    url,
    writeUrl: `${url}${TELEMETRY_WRITE_PATH}`,
    port,
    ingest,
    close: async () => {
      await app.close();
      await ingest.stop();
    },
  };
}
