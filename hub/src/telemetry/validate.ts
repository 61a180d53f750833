// Validation of remote-write series (pure). A request is accepted whole or rejected whole, with a message
// naming the series, the label and the fix.
import type { Label, TimeSeries } from '@meridian/protocol/telemetry/remote-write';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface ValidationLimits {
  /** most labels per series (default 64) */
  maxLabels?: number;
  /** longest label name / value in characters (default 1024 / 4096) */
  maxLabelNameLength?: number;
  maxLabelValueLength?: number;
  /** samples further than this in the future are refused (default 10 min) */
  maxFutureMs?: number;
}

export class ValidationError extends Error {
  constructor(
    message: string,
    readonly seriesIndex: number,
    /** e.g. "labels", "labels.gpu", "samples[2].timestamp" */
    readonly field: string,
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

function nameOf(labels: Label[]): string {
  return labels.find((l) => l.name === '__name__')?.value ?? '(no __name__)';
}

/** Throws ValidationError when series `i`'s labels are not a valid, sorted Prometheus label set. */
export function validateLabels(labels: Label[], i: number, limits: ValidationLimits = {}): void {
  const maxLabels = limits.maxLabels ?? 64;
  const maxName = limits.maxLabelNameLength ?? 1024;
  const maxValue = limits.maxLabelValueLength ?? 4096;
  const where = () => `timeseries[${i}] (${nameOf(labels)})`;
  if (labels.length === 0) throw new ValidationError(`timeseries[${i}] has no labels; every series needs at least __name__`, i, 'labels');
  if (labels.length > maxLabels) throw new ValidationError(`${where()} has ${labels.length} labels, over the limit of ${maxLabels}`, i, 'labels');
  let hasName = false;
  for (let j = 0; j < labels.length; j++) {
    const l = labels[j]!;
    if (j > 0) {
      const p = labels[j - 1]!.name;
      if (p === l.name) throw new ValidationError(`${where()} has label "${l.name}" twice; send each label once`, i, `labels.${l.name}`);
      if (p > l.name) {
        throw new ValidationError(`${where()}: labels are not sorted by name ("${l.name}" comes after "${p}"); sort labels by name, byte-wise, as remote-write requires`, i, `labels.${l.name}`);
      }
    }
    if (l.name.length > maxName || !LABEL_NAME.test(l.name)) {
      throw new ValidationError(`${where()}: invalid label name "${l.name.slice(0, 100)}"; use [a-zA-Z_][a-zA-Z0-9_]* (at most ${maxName} characters)`, i, `labels.${l.name.slice(0, 100)}`);
    }
    if (l.value.length > maxValue) throw new ValidationError(`${where()}: value of label "${l.name}" is ${l.value.length} characters, over ${maxValue}`, i, `labels.${l.name}`);
    if (l.name === '__name__') {
      hasName = true;
      if (!METRIC_NAME.test(l.value)) throw new ValidationError(`timeseries[${i}]: invalid metric name "${l.value.slice(0, 100)}"; use [a-zA-Z_:][a-zA-Z0-9_:]*`, i, 'labels.__name__');
    } else if (l.value === '') {
      throw new ValidationError(`${where()}: label "${l.name}" has an empty value; leave the label out instead`, i, `labels.${l.name}`);
    }
  }
  if (!hasName) throw new ValidationError(`timeseries[${i}] has no __name__ label; every series needs a metric name`, i, 'labels.__name__');
}

/** The latest sample timestamp accepted at `now`. */
export function latestAccepted(now: number, limits: ValidationLimits = {}): number {
  return now + (limits.maxFutureMs ?? 600_000);
}

/** Throws ValidationError for a sample timestamp that is not plausible milliseconds since the epoch. */
export function validateTimestamp(t: number, i: number, k: number, now: number, latest: number, labels: () => Label[]): void {
  if (Number.isSafeInteger(t) && t > 0 && t <= latest) return;
  const where = `timeseries[${i}] (${nameOf(labels())})`;
  if (t > latest && Number.isSafeInteger(t)) throw new ValidationError(`${where}: samples[${k}] is ${Math.round((t - now) / 1000)} s in the future; check the agent's clock`, i, `samples[${k}].timestamp`);
  throw new ValidationError(`${where}: samples[${k}] has timestamp ${t}; send milliseconds since the epoch`, i, `samples[${k}].timestamp`);
}

/** Throws ValidationError for the first problem; returns the number of samples otherwise. */
export function validateSeries(series: TimeSeries[], now: number, limits: ValidationLimits = {}): number {
  const latest = latestAccepted(now, limits);
  let samples = 0;
  for (let i = 0; i < series.length; i++) {
    const ts = series[i]!;
    validateLabels(ts.labels, i, limits);
    for (let k = 0; k < ts.samples.length; k++) validateTimestamp(ts.samples[k]!.timestamp, i, k, now, latest, () => ts.labels);
    samples += ts.samples.length;
  }
  return samples;
}
