// Writes sysfs trees shaped like mlx5 RDMA devices (/sys/class/infiniband/...) for tests and the
// sandbox, and lets a test bump a counter while a collector reads the tree.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IB_COUNTERS, MLX5_HW_COUNTERS } from './rdma.ts';

export interface FixturePort {
  /** default "4: ACTIVE" */
  state?: string;
  /** default "5: LinkUp" */
  physState?: string;
  /** default "200 Gb/sec (4X HDR)" */
  rate?: string;
  /** default "InfiniBand" */
  linkLayer?: string;
  lid?: string;
  smLid?: string;
  /** counters/* values (every IB_COUNTERS file is written, 0 unless given) */
  counters?: Record<string, number | string>;
  /** hw_counters/* values (every MLX5_HW_COUNTERS file is written, 0 unless given) */
  hwCounters?: Record<string, number | string>;
}

export interface FixtureDevice {
  name: string;
  boardId?: string;
  fwVersion?: string;
  nodeGuid?: string;
  ports: Record<number, FixturePort>;
}

/** ConnectX-7 HCAs: mlx5_0 (IB, active, some traffic), mlx5_1 (IB, down), mlx5_2 (RoCE, active, congestion). */
export const DEFAULT_MLX5_DEVICES: FixtureDevice[] = [
  {
    name: 'mlx5_0',
    boardId: 'MT_0000000838',
    fwVersion: '28.39.1002',
    nodeGuid: 'b83f:d203:00a1:b2c4',
    ports: {
      1: {
        lid: '0x12',
        smLid: '0x1',
        counters: { port_xmit_data: 123456789, port_rcv_data: 987654321, port_xmit_packets: 4242, port_rcv_packets: 4343, symbol_error: 3 },
        hwCounters: { out_of_sequence: 7, np_cnp_sent: 11 },
      },
    },
  },
  {
    name: 'mlx5_1',
    boardId: 'MT_0000000838',
    fwVersion: '28.39.1002',
    nodeGuid: 'b83f:d203:00a1:b2c5',
    ports: { 1: { state: '1: DOWN', physState: '3: Disabled', rate: '10 Gb/sec (4X SDR)', lid: '0x0', smLid: '0x0' } },
  },
  {
    name: 'mlx5_2',
    boardId: 'MT_0000000970',
    fwVersion: '28.39.1002',
    nodeGuid: 'b83f:d203:00a1:c001',
    ports: {
      1: {
        linkLayer: 'Ethernet',
        rate: '400 Gb/sec (4X NDR)',
        lid: '0x0',
        smLid: '0x0',
        counters: { port_xmit_data: 1000, port_rcv_data: 2000 },
        hwCounters: { np_ecn_marked_roce_packets: 120, rp_cnp_handled: 118, np_cnp_sent: 120 },
      },
    },
  },
];

function put(path: string, value: string | number): void {
  writeFileSync(path, `${value}\n`);
}

/** (Re)creates `root` as an /sys/class/infiniband-like tree. */
export function writeMlx5Fixture(root: string, devices: FixtureDevice[] = DEFAULT_MLX5_DEVICES): string {
  rmSync(root, { recursive: true, force: true });
  for (const dev of devices) {
    const devDir = join(root, dev.name);
    mkdirSync(join(devDir, 'ports'), { recursive: true });
    put(join(devDir, 'board_id'), dev.boardId ?? 'MT_0000000838');
    put(join(devDir, 'fw_ver'), dev.fwVersion ?? '28.39.1002');
    put(join(devDir, 'node_guid'), dev.nodeGuid ?? '0000:0000:0000:0000');
    put(join(devDir, 'hca_type'), 'MT4129');
    for (const [portNo, p] of Object.entries(dev.ports)) {
      const dir = join(devDir, 'ports', portNo);
      mkdirSync(join(dir, 'counters'), { recursive: true });
      mkdirSync(join(dir, 'hw_counters'), { recursive: true });
      put(join(dir, 'state'), p.state ?? '4: ACTIVE');
      put(join(dir, 'phys_state'), p.physState ?? '5: LinkUp');
      put(join(dir, 'rate'), p.rate ?? '200 Gb/sec (4X HDR)');
      put(join(dir, 'link_layer'), p.linkLayer ?? 'InfiniBand');
      put(join(dir, 'lid'), p.lid ?? '0x1');
      put(join(dir, 'sm_lid'), p.smLid ?? '0x1');
      put(join(dir, 'cap_mask'), '0xa751e848');
      for (const c of IB_COUNTERS) put(join(dir, 'counters', c), p.counters?.[c] ?? 0);
      for (const [c, v] of Object.entries(p.counters ?? {})) put(join(dir, 'counters', c), v);
      for (const c of MLX5_HW_COUNTERS) put(join(dir, 'hw_counters', c), p.hwCounters?.[c] ?? 0);
      for (const [c, v] of Object.entries(p.hwCounters ?? {})) put(join(dir, 'hw_counters', c), v);
    }
  }
  return root;
}

/** Sets one counter file (counters/ or, with hw=true, hw_counters/) — any string, to simulate garbage too. */
export function setFixtureCounter(root: string, device: string, port: number, name: string, value: number | string, hw = false): void {
  put(join(root, device, 'ports', String(port), hw ? 'hw_counters' : 'counters', name), value);
}

/** Sets a port attribute file such as state, phys_state or rate. */
export function setFixturePortFile(root: string, device: string, port: number, file: string, value: string): void {
  put(join(root, device, 'ports', String(port), file), value);
}
