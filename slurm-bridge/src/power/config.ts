// The power-save programs' configuration (MERIDIAN_POWER_CONFIG, JSON): parsed and checked field by field, so
// a broken file names the field and the fix in slurmctld's log instead of failing at the first power-up.

export interface PowerConfig {
  cluster: string;
  /**
   * How capacity is approved. `hub`: POST {hubUrl}/api/v1/clusters/{cluster}/power {action, nodes} with
   * `Authorization: Bearer {token}` (the cluster credential), answered 200 {approved: [...], denied: [{node, reason}]}.
   * `always`: no hub call (a cluster not federated).
   */
  approval: 'hub' | 'always';
  hubUrl?: string;
  token?: string;
  /** Command to start a node: argv with `{node}` and `{conf}` substituted, e.g. ["/usr/sbin/slurmd","-N","{node}","-f","{conf}"]. */
  start: string[];
  /** Command to stop a node, or `{"pidFile": "/run/slurmd-{node}.pid"}` to SIGTERM the pid in that file. */
  stop: string[] | { pidFile: string };
  slurmConf?: string;
  logFile?: string;
  timeoutMs?: number;
}

const KEYS = new Set(['cluster', 'approval', 'hubUrl', 'token', 'start', 'stop', 'slurmConf', 'logFile', 'timeoutMs']);

const isArgv = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0);

/** Checks a parsed config; `env` MERIDIAN_URL / MERIDIAN_TOKEN override hubUrl / token. Throws naming the field. */
export function parsePowerConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = {}): PowerConfig {
  const fail = (field: string, fix: string): never => {
    throw new Error(`${source}: "${field}" ${fix}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: the config must be a JSON object`);
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!KEYS.has(k)) fail(k, `is not a power config field (known: ${[...KEYS].join(', ')})`);
  if (typeof c.cluster !== 'string' || !c.cluster) fail('cluster', 'is required: the cluster id the hub knows this cluster by');
  if (c.approval !== 'hub' && c.approval !== 'always') fail('approval', 'must be "hub" (ask the hub for capacity) or "always" (no hub)');
  const hubUrl = env.MERIDIAN_URL ?? c.hubUrl;
  const token = env.MERIDIAN_TOKEN ?? c.token;
  if (hubUrl !== undefined && (typeof hubUrl !== 'string' || !/^https?:\/\/\S+$/.test(hubUrl))) fail('hubUrl', 'must be the hub\'s http(s) URL, e.g. "https://hub.example:8080"');
  if (token !== undefined && (typeof token !== 'string' || !token)) fail('token', 'must be the cluster credential (a string)');
  if (c.approval === 'hub' && (hubUrl === undefined || token === undefined))
    fail(hubUrl === undefined ? 'hubUrl' : 'token', 'is required with approval "hub" (or set MERIDIAN_URL / MERIDIAN_TOKEN)');
  if (!isArgv(c.start)) fail('start', 'must be a non-empty argv list, e.g. ["/usr/sbin/slurmd", "-N", "{node}", "-f", "{conf}"]');
  // the program is never looked up on a PATH
  if (!(c.start as string[])[0]!.startsWith('/')) fail('start', `must start with the program's absolute path, e.g. "/usr/sbin/slurmd" (got ${JSON.stringify((c.start as string[])[0])})`);
  const stop = c.stop as unknown;
  const pidFileStop = typeof stop === 'object' && stop !== null && !Array.isArray(stop) && typeof (stop as { pidFile?: unknown }).pidFile === 'string';
  if (!isArgv(stop) && !pidFileStop) fail('stop', 'must be an argv list or {"pidFile": "/run/slurmd-{node}.pid"}');
  if (isArgv(stop) && !stop[0]!.startsWith('/')) fail('stop', `must start with the program's absolute path, e.g. "/usr/bin/pkill" (got ${JSON.stringify(stop[0])})`);
  for (const k of ['slurmConf', 'logFile'] as const) if (c[k] !== undefined && (typeof c[k] !== 'string' || !c[k])) fail(k, 'must be a file path');
  if (c.timeoutMs !== undefined && (typeof c.timeoutMs !== 'number' || !Number.isFinite(c.timeoutMs) || c.timeoutMs <= 0)) fail('timeoutMs', 'must be a positive number of milliseconds');
  return {
    ...(c as unknown as PowerConfig),
    ...(hubUrl !== undefined ? { hubUrl: hubUrl as string } : {}),
    ...(token !== undefined ? { token: token as string } : {}),
  };
}
