// RDMA / InfiniBand port state and counters from sysfs (/sys/class/infiniband/<dev>/ports/<n>/...).
// Plain fs reads in TypeScript: the kernel already exposes everything as small text files, so there is
// nothing a native call would add. A missing or garbled file never throws: it lands in `skipped` with why.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export const DEFAULT_INFINIBAND_ROOT = '/sys/class/infiniband';

/** counters/ files (IB PMA, 32/64-bit); port_xmit_data and port_rcv_data count octets ÷ 4. */
export const IB_COUNTERS = [
  'link_downed',
  'symbol_error',
  'link_error_recovery',
  'port_rcv_errors',
  'excessive_buffer_overrun_errors',
  'local_link_integrity_errors',
  'port_rcv_remote_physical_errors',
  'port_rcv_switch_relay_errors',
  'port_xmit_discards',
  'port_xmit_wait',
  'port_xmit_data',
  'port_rcv_data',
  'port_xmit_packets',
  'port_rcv_packets',
  'VL15_dropped',
] as const;

/** mlx5 hw_counters/ files worth alerting or graphing on. */
export const MLX5_HW_COUNTERS = [
  'rnr_nak_retry_err',
  'local_ack_timeout_err',
  'req_transport_retries_exceeded',
  'out_of_buffer',
  'out_of_sequence',
  'duplicate_request',
  'packet_seq_err',
  'implied_nak_seq_err',
  'np_cnp_sent',
  'np_ecn_marked_roce_packets',
  'rp_cnp_handled',
  'rp_cnp_ignored',
  'roce_adp_retrans',
  'req_cqe_error',
  'resp_cqe_error',
] as const;

export interface PortEnum {
  /** numeric part, e.g. 4 for "4: ACTIVE" */
  code: number;
  /** text part, e.g. "ACTIVE" or "LinkUp" */
  name: string;
}

export interface SkippedFile {
  /** path relative to the port directory, e.g. "counters/symbol_error" */
  file: string;
  reason: string;
}

export interface RdmaPort {
  device: string;
  port: number;
  boardId: string | null;
  fwVersion: string | null;
  nodeGuid: string | null;
  linkLayer: string | null;
  /** logical state: 1 DOWN, 2 INIT, 3 ARMED, 4 ACTIVE, 5 ACTIVE_DEFER */
  state: PortEnum | null;
  /** physical state: 2 Polling, 3 Disabled, 5 LinkUp, 6 LinkErrorRecovery, 7 Phy Test */
  physState: PortEnum | null;
  /** "200 Gb/sec (4X HDR)" → 200 */
  rateGbps: number | null;
  rate: string | null;
  lid: number | null;
  smLid: number | null;
  /** every readable counters/* file, raw values */
  counters: Record<string, number>;
  /** every readable hw_counters/* file, raw values */
  hwCounters: Record<string, number>;
  /** port_xmit_data / port_rcv_data × 4 (sysfs counts 4-octet words) */
  xmitBytes: number | null;
  rcvBytes: number | null;
  skipped: SkippedFile[];
}

export type RdmaReadResult =
  | { available: true; root: string; ports: RdmaPort[] }
  | { available: false; root: string; reason: string; ports: [] };

export interface ReadRdmaOptions {
  /** default: $MERIDIAN_INFINIBAND_ROOT, else /sys/class/infiniband */
  root?: string;
}

async function readText(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message}` : String(err);
}

const INTEGER = /^(?:0x[0-9a-fA-F]+|\d+)$/;

function parseInteger(text: string): number | undefined {
  if (!INTEGER.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function parseEnum(text: string): PortEnum | undefined {
  const m = /^(\d+):\s*(.+)$/.exec(text);
  return m ? { code: Number(m[1]), name: m[2]!.trim() } : undefined;
}

async function readCounterDir(dir: string, rel: string, skipped: SkippedFile[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') skipped.push({ file: rel, reason: `cannot list: ${errText(err)}` });
    return out;
  }
  for (const name of names) {
    const file = `${rel}/${name}`;
    let text: string;
    try {
      text = await readText(join(dir, name));
    } catch (err) {
      skipped.push({ file, reason: `unreadable: ${errText(err)}` });
      continue;
    }
    const n = parseInteger(text);
    if (n === undefined) {
      skipped.push({ file, reason: `not an unsigned integer: ${JSON.stringify(text.slice(0, 40))}` });
      continue;
    }
    out[name] = n;
  }
  return out;
}

async function readPort(root: string, device: string, port: number, dev: DeviceInfo): Promise<RdmaPort> {
  const dir = join(root, device, 'ports', String(port));
  const skipped: SkippedFile[] = [];
  const text = async (file: string): Promise<string | null> => {
    try {
      return await readText(join(dir, file));
    } catch (err) {
      skipped.push({ file, reason: `unreadable: ${errText(err)}` });
      return null;
    }
  };
  const parsed = <T>(file: string, raw: string | null, parse: (t: string) => T | undefined, what: string): T | null => {
    if (raw === null) return null;
    const v = parse(raw);
    if (v === undefined) {
      skipped.push({ file, reason: `expected ${what}, got ${JSON.stringify(raw.slice(0, 40))}` });
      return null;
    }
    return v;
  };
  const state = parsed('state', await text('state'), parseEnum, '"<n>: <NAME>"');
  const physState = parsed('phys_state', await text('phys_state'), parseEnum, '"<n>: <Name>"');
  const rate = await text('rate');
  const rateGbps = parsed(
    'rate',
    rate,
    (t) => {
      const m = /^(\d+(?:\.\d+)?)\s*Gb\/sec/.exec(t);
      return m ? Number(m[1]) : undefined;
    },
    '"<n> Gb/sec ..."',
  );
  const linkLayer = await text('link_layer');
  const lidText = await text('lid');
  const smLidText = await text('sm_lid');
  const counters = await readCounterDir(join(dir, 'counters'), 'counters', skipped);
  const hwCounters = await readCounterDir(join(dir, 'hw_counters'), 'hw_counters', skipped);
  return {
    device,
    port,
    boardId: dev.boardId,
    fwVersion: dev.fwVersion,
    nodeGuid: dev.nodeGuid,
    linkLayer,
    state,
    physState,
    rateGbps,
    rate,
    lid: parsed('lid', lidText, parseInteger, 'an integer'),
    smLid: parsed('sm_lid', smLidText, parseInteger, 'an integer'),
    counters,
    hwCounters,
    xmitBytes: counters.port_xmit_data !== undefined ? counters.port_xmit_data * 4 : null,
    rcvBytes: counters.port_rcv_data !== undefined ? counters.port_rcv_data * 4 : null,
    skipped,
  };
}

interface DeviceInfo {
  boardId: string | null;
  fwVersion: string | null;
  nodeGuid: string | null;
}

async function optionalText(path: string): Promise<string | null> {
  try {
    return await readText(path);
  } catch {
    return null;
  }
}

/**
 * Reads every port of every RDMA device under `root`. A missing root means "no RDMA here"
 * (available: false with the reason), not an error.
 */
export async function readRdmaPorts(opts: ReadRdmaOptions | string = {}): Promise<RdmaReadResult> {
  const root = typeof opts === 'string' ? opts : (opts.root ?? process.env.MERIDIAN_INFINIBAND_ROOT ?? DEFAULT_INFINIBAND_ROOT);
  let devices: string[];
  try {
    devices = (await readdir(root)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? `no RDMA devices: ${root} does not exist (no InfiniBand/RoCE driver loaded)` : `cannot list ${root}: ${errText(err)}`;
    return { available: false, root, reason, ports: [] };
  }
  const ports: RdmaPort[] = [];
  for (const device of devices) {
    const devDir = join(root, device);
    const info: DeviceInfo = {
      boardId: await optionalText(join(devDir, 'board_id')),
      fwVersion: await optionalText(join(devDir, 'fw_ver')),
      nodeGuid: await optionalText(join(devDir, 'node_guid')),
    };
    let portNames: string[];
    try {
      portNames = await readdir(join(devDir, 'ports'));
    } catch {
      continue; // not an RDMA device directory (or no ports): nothing to report
    }
    const numbers = portNames.map(Number).filter((n) => Number.isInteger(n) && n > 0).sort((a, b) => a - b);
    for (const port of numbers) ports.push(await readPort(root, device, port, info));
  }
  return { available: true, root, ports };
}
