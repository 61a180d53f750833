// Hub telemetry: remote-write receiver (Fastify plugin), hot state, GPU/NIC health, remediation policy.
export { telemetryPlugin, staticTokenAuthenticator, bearerToken, TELEMETRY_WRITE_PATH } from './plugin.ts';
export type { Authenticate, TelemetryPluginOptions } from './plugin.ts';
export { TelemetryIngest } from './ingest.ts';
export type { IngestResult, IngestStats, TelemetryIngestOptions } from './ingest.ts';
export { HotState } from './hot-state.ts';
export type { EntityView, GpuView, HealthChange, HotStateOptions, NicView, NodeView } from './hot-state.ts';
export { RemoteWriteQueue } from './prom-queue.ts';
export type { RemoteWriteQueueOptions, RemoteWriteQueueStats } from './prom-queue.ts';
export * from './health.ts';
export * from './remediation-policy.ts';
export type { JobRef, ProjectResolver, Tenant } from './tenant.ts';
export type { RateLimit } from './limits.ts';
