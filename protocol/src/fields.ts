// zod building blocks over the bounds table (bounds.ts): every string a user writes is storable and bounded,
// every number finite and within its range, and every message names the allowed range. The job spec and the
// hub's request schemas are built from these, so the OpenAPI document shows the same min and max.
import { z } from 'zod';
import { BOUNDS, type Bound, DATASET_NAME_HINT, DATASET_NAME_PATTERN, NAME_HINT, NAME_PATTERN, rangeText, unsafeStringReason, utf8Length } from './bounds.ts';

/**
 * A string Postgres can store and every client can print: no NUL character, no lone UTF-16 surrogate.
 * The message goes with the field's path, so the caller learns which field holds the bad bytes.
 */
export function safeString(): z.ZodString {
  return z.string().superRefine((s, ctx) => {
    const why = unsafeStringReason(s);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  });
}

/** A storable string of `b.min`..`b.max` characters. */
export function boundedString(b: Bound): z.ZodString {
  return safeString()
    .min(b.min, b.min === 1 ? 'must not be empty' : `must be at least ${b.min} characters`)
    .max(b.max, `must be at most ${b.max.toLocaleString('en-US')} characters`);
}

/** A storable string whose UTF-8 size lies within `b` (bytes). */
export function boundedBytes(b: Bound): z.ZodString {
  return safeString()
    .superRefine((s, ctx) => {
      const n = utf8Length(s);
      if (n < b.min) ctx.addIssue({ code: 'custom', message: b.min === 1 ? 'must not be empty' : `must be at least ${b.min} bytes` });
      else if (n > b.max) ctx.addIssue({ code: 'custom', message: `is ${n.toLocaleString('en-US')} bytes; allowed ${rangeText(b)}` });
    })
    .max(b.max, `allowed ${rangeText(b)}`); // a character is at least a byte, so this shows the bound in the OpenAPI document
}

/** A whole number within `b`. */
export function boundedInt(b: Bound): z.ZodNumber {
  const msg = `allowed ${rangeText(b)}`;
  return z.number().int('must be a whole number').min(b.min, msg).max(b.max, msg);
}

/** A finite number within `b` (fractions allowed). */
export function boundedNumber(b: Bound): z.ZodNumber {
  const msg = `allowed ${rangeText(b)}`;
  return z.number().min(b.min, msg).max(b.max, msg);
}

/** The one name pattern (a DNS label): jobs, projects, clusters, regions. */
export function nameString(): z.ZodString {
  return boundedString(BOUNDS.nameLength).regex(NAME_PATTERN, NAME_HINT);
}

/** Dataset names: a DNS subdomain, so path-safe (no "/", no ".."). */
export function datasetName(): z.ZodString {
  return boundedString(BOUNDS.datasetNameLength).regex(DATASET_NAME_PATTERN, DATASET_NAME_HINT);
}

/** A record with at most `count` entries whose keys and values are checked by the given schemas. */
export function boundedRecord<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V, count: Bound) {
  return z.record(key, value).refine((r) => Object.keys(r).length <= count.max, { message: `too many entries; allowed ${rangeText(count)}` });
}
