// Budgets in GPU-hours and money. The hub passes what each project has left; every placement in the
// cycle spends its estimate (GPUs × expected runtime × price), so one cycle can never overspend.
import type { ProjectSpec } from './model.ts';

export class BudgetLedger {
  private readonly left = new Map<string, { gpuHours?: number; usd?: number }>();
  constructor(projects: ReadonlyMap<string, ProjectSpec>) {
    for (const [name, p] of projects) if (p.budget) this.left.set(name, { ...p.budget });
  }

  remaining(project: string): { gpuHours?: number; usd?: number } | undefined {
    return this.left.get(project);
  }

  /** Whether the project has a budget at all (when not, check() is always null). */
  limits(project: string): boolean {
    return this.left.has(project);
  }

  /** null when the spend fits; otherwise a BudgetExhausted reason. */
  check(project: string, gpuHours: number, usd: number): string | null {
    const b = this.left.get(project);
    if (!b) return null;
    const eps = 1e-9;
    if (b.gpuHours !== undefined && gpuHours > b.gpuHours + eps)
      return `BudgetExhausted(project ${project}: ${Math.max(0, b.gpuHours).toFixed(1)} GPU-hours left, job needs ~${gpuHours.toFixed(1)})`;
    if (b.usd !== undefined && usd > b.usd + eps)
      return `BudgetExhausted(project ${project}: $${Math.max(0, b.usd).toFixed(2)} left, job needs ~$${usd.toFixed(2)})`;
    return null;
  }

  spend(project: string, gpuHours: number, usd: number): void {
    const b = this.left.get(project);
    if (!b) return;
    if (b.gpuHours !== undefined) b.gpuHours -= gpuHours;
    if (b.usd !== undefined) b.usd -= usd;
  }
}
