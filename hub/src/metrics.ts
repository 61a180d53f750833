// Hub metrics (prom-client), one registry per hub instance: jobs by state/tier (and project, when enabled), queue wait,
// cycle duration, placements, GPUs free/used per cluster and model, agent connection state.
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { stateCounts } from './store/repos/jobs.ts';
import { listNodes } from './store/repos/clusters.ts';

export class HubMetrics {
  readonly registry = new Registry();
  readonly queueWait: Histogram<'tier'>;
  readonly cycleDuration: Histogram;
  readonly placements: Counter<'tier'>;
  readonly submissions: Counter<'outcome'>;
  readonly agentConnected: Gauge<'cluster'>;

  /** `projectLabels`: label job series with project names (MERIDIAN_METRICS_PROJECT_LABELS); off, they are summed over projects. */
  constructor(pool: pg.Pool, opts: { defaultMetrics?: boolean; projectLabels?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'meridian_hub_' });
    const byProject = opts.projectLabels === true;
    const jobs = new Gauge({
      name: 'meridian_jobs',
      help: byProject ? 'Jobs by state, tier and project' : 'Jobs by state and tier (all projects)',
      labelNames: byProject ? ['state', 'tier', 'project'] : ['state', 'tier'],
      registers,
      async collect() {
        jobs.reset();
        for (const r of await stateCounts(pool)) {
          if (byProject) jobs.set({ state: r.state, tier: r.tier, project: r.project }, r.n);
          else jobs.inc({ state: r.state, tier: r.tier }, r.n);
        }
      },
    });
    const gpus = new Gauge({
      name: 'meridian_gpus',
      help: 'GPUs per cluster, model and status (free, used, unhealthy) as last reported by the agents',
      labelNames: ['cluster', 'model', 'status'],
      registers,
      async collect() {
        gpus.reset();
        const acc = new Map<string, number>();
        for (const n of await listNodes(pool)) {
          const model = n.info.gpuModel ?? 'unknown';
          const total = Math.max(n.info.allocatable.gpus, n.info.gpus.length);
          for (let i = 0; i < total; i++) {
            const g = n.info.gpus.find((x) => x.index === i);
            const status = g && !g.healthy ? 'unhealthy' : (g ? g.milliUsed > 0 || g.jobId : i < n.info.requested.gpus) ? 'used' : 'free';
            const k = `${n.clusterId}\u0000${model}\u0000${status}`;
            acc.set(k, (acc.get(k) ?? 0) + 1);
          }
        }
        for (const [k, v] of acc) {
          const [cluster, model, status] = k.split('\u0000') as [string, string, string];
          gpus.set({ cluster, model, status }, v);
        }
      },
    });
    this.queueWait = new Histogram({
      name: 'meridian_queue_wait_seconds',
      help: 'Time from submit to placement',
      labelNames: ['tier'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400],
      registers,
    });
    this.cycleDuration = new Histogram({
      name: 'meridian_scheduler_cycle_seconds',
      help: 'Scheduling cycle duration (store read, runCycle, decision write)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.placements = new Counter({ name: 'meridian_placements_total', help: 'Jobs placed by the scheduler', labelNames: ['tier'], registers });
    this.submissions = new Counter({ name: 'meridian_submissions_total', help: 'Job submissions by outcome', labelNames: ['outcome'], registers });
    this.agentConnected = new Gauge({ name: 'meridian_agent_connected', help: '1 while the cluster agent is connected', labelNames: ['cluster'], registers });
  }
}
