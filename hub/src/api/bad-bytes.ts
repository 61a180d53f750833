// Characters no stored string may hold: NUL (Postgres refuses \u0000 in text and jsonb) and lone UTF-16
// surrogates (not encodable as UTF-8). Found anywhere in a request's JSON — keys included — they are named
// by the path of the field that holds them, in the paths the API's other refusals use ("workload.script",
// "workload.command[1]", "query.name", "path.id").
import type { FieldError } from '@meridian/protocol/job-spec';

// eslint-disable-next-line no-control-regex
const BAD = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function what(s: string): string {
  return s.includes('\u0000') ? 'holds a NUL character (\\u0000), which cannot be stored; remove it' : 'holds a lone UTF-16 surrogate (not valid Unicode); send valid UTF-8 text';
}

// Paths as the schemas' field errors spell them (fieldErrors in @meridian/protocol): keys joined by ".",
// array indexes as "[n]"; a key that itself holds a bad character is quoted with escapes.
const join = (base: string, key: string | number): string => {
  if (typeof key === 'number') return `${base}[${key}]`;
  const k = BAD.test(key) ? JSON.stringify(key) : key;
  return base ? `${base}.${k}` : k;
};

/** The first bad string in `value` (iteratively: a deeply nested body must not overflow the stack), or null. */
export function findBadString(value: unknown, base: string): FieldError | null {
  const stack: [unknown, string][] = [[value, base]];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (BAD.test(v)) {
        const where = path.length > 500 ? `…${path.slice(-500)}` : path; // a deeply nested body names its tail
        return { path: where || '(body)', message: `${where || 'the body'} ${what(v)}` };
      }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], join(path, i)]);
    } else if (v && typeof v === 'object' && !Buffer.isBuffer(v) && !ArrayBuffer.isView(v)) {
      for (const [k, child] of Object.entries(v)) {
        if (BAD.test(k)) return { path: join(path, k), message: `the key ${JSON.stringify(k)} ${what(k)}` };
        stack.push([child, join(path, k)]);
      }
    }
  }
  return null;
}

/** Checks a request's body, query and path parameters; body fields are named bare, the others by where. */
export function badBytes(parts: { body: unknown; query: unknown; path: unknown }): FieldError | null {
  return findBadString(parts.path, 'path') ?? findBadString(parts.query, 'query') ?? findBadString(parts.body, '');
}
