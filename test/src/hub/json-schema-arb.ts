// fast-check arbitraries from JSON Schema (the subset zod's toJSONSchema emits), for fuzzing the API from its
// own OpenAPI document: mostly well-formed values, plus mutations and garbage.
import fc from 'fast-check';

type Schema = {
  type?: string | string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  default?: unknown;
};

export function arbFromSchema(s: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!s || depth > 5) return fc.jsonValue({ maxDepth: 2 });
  const alts = s.anyOf ?? s.oneOf;
  if (alts?.length) return fc.oneof(...alts.map((x) => arbFromSchema(x, depth + 1)));
  if (s.allOf?.length) return arbFromSchema(s.allOf[0], depth + 1);
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum?.length) return fc.constantFrom(...s.enum);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string': {
      if (s.pattern) {
        try {
          return fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length <= (s.maxLength ?? 200) && x.length >= (s.minLength ?? 0));
        } catch {
          /* fall through */
        }
      }
      return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 24, 64) });
    }
    case 'integer':
      return fc.integer({ min: Math.ceil(s.minimum ?? s.exclusiveMinimum ?? -1e6), max: Math.floor(s.maximum ?? s.exclusiveMaximum ?? 1e6) });
    case 'number':
      return fc.double({ min: s.minimum ?? s.exclusiveMinimum ?? -1e6, max: s.maximum ?? s.exclusiveMaximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(arbFromSchema(s.items, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, 3) });
    case 'object': {
      const props = s.properties ?? {};
      const record = fc.record(
        Object.fromEntries(Object.entries(props).map(([k, v]) => [k, arbFromSchema(v, depth + 1)])),
        { requiredKeys: (s.required ?? []).filter((k) => k in props) },
      );
      if (s.additionalProperties && typeof s.additionalProperties === 'object' && Object.keys(props).length === 0)
        return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), arbFromSchema(s.additionalProperties, depth + 1), { maxKeys: 3 });
      return record;
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Mostly schema-shaped values, some with one field replaced by junk, some pure junk. */
export function fuzzBody(s: Schema | undefined): fc.Arbitrary<unknown> {
  const good = arbFromSchema(s);
  const mutated = fc.tuple(good, fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })).map(([o, k, v]) =>
    typeof o === 'object' && o !== null && !Array.isArray(o) ? { ...(o as Record<string, unknown>), [Object.keys(o)[0] ?? k]: v } : v,
  );
  return fc.oneof({ weight: 5, arbitrary: good }, { weight: 3, arbitrary: mutated }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
}

/** Path/query values: schema-shaped, plus hostile strings. */
export function fuzzParam(s: Schema | undefined): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: arbFromSchema(s).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) },
    { weight: 1, arbitrary: fc.constantFrom('1', '0', '-1', '99999999999999999999', '1e3', '%00', '..', "'; drop table jobs; --", 'ü', ' ', 'ml', 'default', 'Queued,Running') },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  );
}
