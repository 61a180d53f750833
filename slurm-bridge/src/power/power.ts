// Elastic Slurm: the ResumeProgram / SuspendProgram behind `State=CLOUD` nodes. slurmctld runs them with a
// hostlist (`gpu-[2-3]`); resume asks the hub for the capacity and starts each approved node's slurmd,
// suspend tells the hub and stops it. What "start"/"stop" means is configuration (a command template), so the
// same program drives the harness (slurmd on this host) and real clusters (a cloud API, IPMI, a K8s pod).
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { expandHostlist } from '../parsers/common.ts';
import { agentEnv } from '../transports/exec-env.ts';
import { parsePowerConfig } from './config.ts';
import type { PowerConfig } from './config.ts';

export type { PowerConfig } from './config.ts';

export type PowerAction = 'resume' | 'suspend';

function log(cfg: PowerConfig, msg: string): void {
  const line = `${new Date().toISOString()} ${msg}\n`;
  if (cfg.logFile) appendFileSync(cfg.logFile, line);
  else process.stderr.write(line);
}

/**
 * `{node}` and `{conf}` substituted. A simulated node on an already-running host should start slurmd with
 * `-b` ("report node reboot now"): slurmctld only accepts a powered-up node whose boot time is after the
 * power-up request, and without `-b` slurmd reports the host's boot (see docs/slurm.md, Elastic Slurm).
 */
export function subst(argv: string[], node: string, cfg: Pick<PowerConfig, 'slurmConf'>): string[] {
  const conf = cfg.slurmConf ?? process.env.SLURM_CONF ?? '/etc/slurm/slurm.conf';
  return argv.map((a) => a.replaceAll('{node}', node).replaceAll('{conf}', conf));
}

/** The start/stop commands' environment: the fixed agent environment with SLURM_CONF, nothing of slurmctld's own. */
function commandEnv(cfg: Pick<PowerConfig, 'slurmConf'>): Record<string, string> {
  const conf = cfg.slurmConf ?? process.env.SLURM_CONF;
  return agentEnv(conf ? { SLURM_CONF: conf } : {});
}

/** argv[0] is an absolute path (checked with the config). */
function run(argv: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err) => resolve({ code: 127, out: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

export interface Approval {
  approved: string[];
  denied: { node: string; reason: string }[];
}

/** Asks the hub which of `nodes` may change power state (`approval: "always"` grants everything). */
export async function approve(cfg: PowerConfig, action: PowerAction, nodes: string[]): Promise<Approval> {
  if (cfg.approval === 'always') return { approved: nodes, denied: [] };
  if (!cfg.hubUrl) throw new Error('power config: approval "hub" needs hubUrl');
  const res = await fetch(`${cfg.hubUrl.replace(/\/$/, '')}/api/v1/clusters/${encodeURIComponent(cfg.cluster)}/power`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(cfg.token ? { Authorization: `Bearer ${cfg.token}` } : {}) },
    body: JSON.stringify({ action, nodes }),
    signal: AbortSignal.timeout(cfg.timeoutMs ?? 30_000),
  });
  if (res.status !== 200) throw new Error(`hub answered ${res.status} to power ${action} ${nodes.join(',')}: ${(await res.text()).slice(0, 300)}`);
  const body = (await res.json()) as { approved?: unknown; denied?: unknown };
  if (!Array.isArray(body.approved)) throw new Error(`hub power reply has no "approved" list: ${JSON.stringify(body).slice(0, 200)}`);
  const ok = new Set(body.approved.map(String));
  const reasons = new Map(
    (Array.isArray(body.denied) ? (body.denied as { node?: unknown; reason?: unknown }[]) : []).map((d) => [String(d.node), typeof d.reason === 'string' ? d.reason : 'refused']),
  );
  return {
    approved: nodes.filter((n) => ok.has(n)),
    denied: nodes.filter((n) => !ok.has(n)).map((node) => ({ node, reason: reasons.get(node) ?? 'not in the hub\'s approved list' })),
  };
}

async function stopNode(cfg: PowerConfig, node: string): Promise<boolean> {
  if (Array.isArray(cfg.stop)) {
    const r = await run(subst(cfg.stop, node, cfg), commandEnv(cfg));
    if (r.code !== 0) log(cfg, `suspend ${node}: stop command failed (${r.code}): ${r.out.trim()}`);
    return r.code === 0;
  }
  const file = cfg.stop.pidFile.replaceAll('{node}', node);
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    log(cfg, `suspend ${node}: no pid file ${file}; already stopped`);
    return true;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return true;
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, 'SIGKILL');
  return true;
}

/** Runs one power action for a Slurm hostlist. Returns the process exit code (0 = every node handled). */
export async function powerAction(cfg: PowerConfig, action: PowerAction, hostlist: string): Promise<number> {
  const nodes = expandHostlist(hostlist);
  if (!nodes.length) {
    log(cfg, `${action}: empty hostlist ${JSON.stringify(hostlist)}`);
    return 1;
  }
  if (action === 'resume') {
    let approval: Approval;
    try {
      approval = await approve(cfg, 'resume', nodes);
    } catch (err) {
      log(cfg, `resume ${nodes.join(',')}: approval failed: ${(err as Error).message}`);
      return 1;
    }
    const { approved, denied } = approval;
    for (const d of denied) log(cfg, `resume ${d.node}: hub refused (${d.reason}); Slurm marks it DOWN after ResumeTimeout and requeues its jobs`);
    const results = await Promise.all(
      approved.map(async (n) => {
        const r = await run(subst(cfg.start, n, cfg), commandEnv(cfg));
        log(cfg, `resume ${n}: ${r.code === 0 ? 'started' : `start failed (${r.code}): ${r.out.trim()}`}`);
        return r.code === 0;
      }),
    );
    return denied.length || results.some((ok) => !ok) ? 1 : 0;
  }
  // Suspend always proceeds (Slurm already decided the node is idle); the hub is told, best effort.
  await approve(cfg, 'suspend', nodes).catch((err: unknown) => log(cfg, `suspend ${nodes.join(',')}: hub not told: ${(err as Error).message}`));
  const results = await Promise.all(nodes.map((n) => stopNode(cfg, n)));
  log(cfg, `suspend ${nodes.join(',')}: ${results.every(Boolean) ? 'stopped' : 'some failed'}`);
  return results.every(Boolean) ? 0 : 1;
}

/** Reads the config from MERIDIAN_POWER_CONFIG (a JSON file); MERIDIAN_URL / MERIDIAN_TOKEN override hubUrl / token. */
export function loadPowerConfig(env: NodeJS.ProcessEnv = process.env): PowerConfig {
  const path = env.MERIDIAN_POWER_CONFIG;
  if (!path) throw new Error('MERIDIAN_POWER_CONFIG is not set (path of the power-save JSON config)');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read the power config: ${(err as Error).message}`);
  }
  return parsePowerConfig(raw, path, env);
}

/** Entry for bin/meridian-slurm-resume and bin/meridian-slurm-suspend. */
export async function powerMain(action: PowerAction, argv: string[]): Promise<number> {
  const hostlist = argv[0];
  if (!hostlist) {
    process.stderr.write(`usage: meridian-slurm-${action} <hostlist>   (run by slurmctld as ${action === 'resume' ? 'ResumeProgram' : 'SuspendProgram'})\n`);
    return 2;
  }
  let cfg: PowerConfig;
  try {
    cfg = loadPowerConfig();
  } catch (err) {
    process.stderr.write(`meridian-slurm-${action}: ${(err as Error).message}\n`);
    return 2;
  }
  return powerAction(cfg, action, hostlist);
}
