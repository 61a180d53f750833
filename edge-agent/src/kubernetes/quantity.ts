// Kubernetes resource quantities (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/)
// in the units agent protocol v1 uses: CPU in milli-cores, memory in MiB, device counts as integers.
const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity string ("500m", "8Gi", "1e3", "2") as a plain number; undefined or unreadable is 0. */
export function parseQuantity(q: string | number | undefined | null): number {
  if (q === undefined || q === null || q === '') return 0;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const mult = SUFFIX[m[2]!];
  if (mult === undefined) return 0;
  return Number(m[1]) * mult;
}

export const cpuMilli = (q: string | undefined): number => Math.round(parseQuantity(q) * 1000);
export const memoryMiB = (q: string | undefined): number => Math.round((parseQuantity(q) / 2 ** 20) * 1000) / 1000;
export const count = (q: string | undefined): number => Math.floor(parseQuantity(q));
