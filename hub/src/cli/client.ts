// The CLI's view of the hub: URL and token from MERIDIAN_URL / MERIDIAN_TOKEN, else from `meridian login`'s
// config file; one request helper that turns API errors into readable messages.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface CliConfig {
  url: string;
  token: string | null;
}

export function configPath(): string {
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'meridian', 'config.json');
}

export function loadConfig(): CliConfig {
  let saved: Partial<CliConfig> = {};
  if (existsSync(configPath())) {
    try {
      saved = JSON.parse(readFileSync(configPath(), 'utf8')) as Partial<CliConfig>;
    } catch {
      /* ignore a broken file; env still works */
    }
  }
  return {
    url: (process.env.MERIDIAN_URL ?? saved.url ?? 'http://127.0.0.1:8080').replace(/\/$/, ''),
    token: process.env.MERIDIAN_TOKEN ?? saved.token ?? null,
  };
}

export function saveConfig(c: CliConfig): void {
  mkdirSync(dirname(configPath()), { recursive: true });
  writeFileSync(configPath(), JSON.stringify(c, null, 2), { mode: 0o600 });
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  code?: string;
  message?: string;
  details?: { path: string; message: string }[];
}

export function describeError(status: number, body: unknown): string {
  const b = (typeof body === 'object' && body !== null ? body : { message: String(body) }) as ErrorBody;
  const lines = [`error ${status}${b.code ? ` (${b.code})` : ''}: ${b.message ?? 'request failed'}`];
  for (const d of b.details ?? []) lines.push(`  ${d.path}: ${d.message}`);
  return lines.join('\n');
}

export class HubClient {
  constructor(readonly cfg: CliConfig = loadConfig()) {}

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.cfg.token) headers.authorization = `Bearer ${this.cfg.token}`;
    if (body !== undefined) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(this.cfg.url + path, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new CliError(`cannot reach the hub at ${this.cfg.url} (${(err as Error).message}); set MERIDIAN_URL or run meridian login`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      /* plain text */
    }
    if (!res.ok) {
      const retry = res.headers.get('retry-after');
      throw new CliError(describeError(res.status, parsed) + (retry ? `\n  retry after ${retry}s` : ''), res.status === 429 ? 75 : 1);
    }
    return parsed as T;
  }

  /** A GET whose body is written to `out` as it arrives (a followed log); API errors as in `request`. */
  async stream(path: string, out: NodeJS.WritableStream): Promise<void> {
    const headers: Record<string, string> = {};
    if (this.cfg.token) headers.authorization = `Bearer ${this.cfg.token}`;
    let res: Response;
    try {
      res = await fetch(this.cfg.url + path, { headers });
    } catch (err) {
      throw new CliError(`cannot reach the hub at ${this.cfg.url} (${(err as Error).message}); set MERIDIAN_URL or run meridian login`);
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* plain text */
      }
      throw new CliError(describeError(res.status, parsed));
    }
    try {
      for await (const chunk of res.body) out.write(chunk);
    } catch (err) {
      throw new CliError(`the stream from the hub broke off (${(err as Error).message}); run the command again to go on`);
    }
  }
}
