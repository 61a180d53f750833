// Pending reasons a person can act on, each with an ETA. Codes are stable (for the API and metrics);
// the text names the constraint and the numbers behind it.
import type { ReasonCode } from './model.ts';

export interface Pend {
  code: ReasonCode;
  reason: string;
  etaSec: number | null;
}

const gpuWord = (milli: number): string => (milli === 1000 || milli % 1000 !== 0 ? `${milli / 1000} GPU` : `${milli / 1000} GPUs`);

export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec)) return 'unknown';
  if (sec < 90) return `${Math.round(sec)}s`;
  if (sec < 5400) return `${Math.round(sec / 60)}m`;
  return `${(sec / 3600).toFixed(1)}h`;
}

export const reasons = {
  invalid: (msg: string): Pend => ({ code: 'Invalid', reason: `Invalid(${msg})`, etaSec: null }),
  waitingForGang: (needMilli: number, model: string, clusterId: string | null, eta: number | null): Pend => ({
    code: 'WaitingForGang',
    reason: `WaitingForGang(${gpuWord(needMilli)} ${model} on one cluster${clusterId ? `; soonest on ${clusterId} in ~${fmtDuration(eta ?? Infinity)}` : ''})`,
    etaSec: eta,
  }),
  insufficient: (needMilli: number, model: string, clusterId: string | null, eta: number | null): Pend => ({
    code: 'InsufficientGPU',
    reason: `InsufficientGPU(${gpuWord(needMilli)} ${model} free nowhere allowed${clusterId ? `; soonest on ${clusterId} in ~${fmtDuration(eta ?? Infinity)}` : ''})`,
    etaSec: eta,
  }),
  localData: (clusterId: string, eta: number, movedSec: number): Pend => ({
    code: 'WaitingForLocalData',
    reason: `WaitingForLocalData(${clusterId} holds the data and frees GPUs in ~${fmtDuration(eta)}; copying elsewhere takes ~${fmtDuration(movedSec)})`,
    etaSec: eta,
  }),
  prewarming: (missing: { name: string; percent: number }[], clusterId: string, eta: number): Pend => ({
    code: 'Prewarming',
    reason: missing.map((m) => `Prewarming(${m.name}, ${Math.round(m.percent)}%)`).join(', ') + ` on ${clusterId}`,
    etaSec: eta,
  }),
  held: (clusterId: string, model: string, gangJob: string, shadowSec: number): Pend => ({
    code: 'HeldForReservation',
    reason: `HeldForReservation(${model} on ${clusterId} is reserved for gang ${gangJob}, starting in ~${fmtDuration(shadowSec)}; this job would run past it)`,
    etaSec: shadowSec,
  }),
};
