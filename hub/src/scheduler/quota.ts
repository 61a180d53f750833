// Project quotas in GPUs (whole-GPU equivalents: 500 milli = 0.5 GPU), in total and per model, counted
// over running allocations plus everything placed earlier in this cycle.
import type { ProjectSpec } from './model.ts';

export class QuotaLedger {
  private readonly used = new Map<string, { total: number; perModel: Map<string, number> }>();
  constructor(private readonly projects: ReadonlyMap<string, ProjectSpec>) {}

  private entry(project: string): { total: number; perModel: Map<string, number> } {
    let e = this.used.get(project);
    if (!e) this.used.set(project, (e = { total: 0, perModel: new Map() }));
    return e;
  }

  charge(project: string, model: string | null, milli: number, sign: 1 | -1 = 1): void {
    const e = this.entry(project);
    e.total += sign * milli;
    if (model) e.perModel.set(model, (e.perModel.get(model) ?? 0) + sign * milli);
  }

  /** GPUs (milli) in use by the project, total or for one model. */
  usedMilli(project: string, model?: string): number {
    const e = this.used.get(project);
    if (!e) return 0;
    return model === undefined ? e.total : (e.perModel.get(model) ?? 0);
  }

  /** Whether the project has any quota at all (when not, check() is always null). */
  limits(project: string): boolean {
    return this.projects.get(project)?.quota !== undefined;
  }

  /** check() === null without building the reason (candidate building asks this for every target). */
  allows(project: string, model: string | null, milli: number): boolean {
    if (milli === 0) return true;
    const q = this.projects.get(project)?.quota;
    if (!q) return true;
    const e = this.entry(project);
    const eps = 1e-6;
    if (q.totalGpus !== undefined && e.total + milli > q.totalGpus * 1000 + eps) return false;
    const pm = model ? q.perModel?.[model] : undefined;
    return !(model && pm !== undefined && (e.perModel.get(model) ?? 0) + milli > pm * 1000 + eps);
  }

  /** null when `milli` more GPUs of `model` stay within quota; otherwise a QuotaExceeded reason. */
  check(project: string, model: string | null, milli: number): string | null {
    if (milli === 0) return null;
    const q = this.projects.get(project)?.quota;
    if (!q) return null;
    const e = this.entry(project);
    const eps = 1e-6;
    if (q.totalGpus !== undefined && e.total + milli > q.totalGpus * 1000 + eps)
      return `QuotaExceeded(project ${project}: ${fmt(e.total)}/${q.totalGpus} GPUs in use, job needs ${fmt(milli)})`;
    const pm = model ? q.perModel?.[model] : undefined;
    if (model && pm !== undefined && (e.perModel.get(model) ?? 0) + milli > pm * 1000 + eps)
      return `QuotaExceeded(project ${project}: ${fmt(e.perModel.get(model) ?? 0)}/${pm} ${model} GPUs in use, job needs ${fmt(milli)})`;
    return null;
  }
}

const fmt = (milli: number): string => String(Math.round(milli) / 1000);
