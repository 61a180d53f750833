import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IB_COUNTERS, MLX5_HW_COUNTERS, readRdmaPorts } from './rdma.ts';
import type { RdmaPort } from './rdma.ts';
import { packageDir } from './loader.ts';
import { setFixtureCounter, setFixturePortFile, writeMlx5Fixture } from './sysfs-fixture.ts';

const base = mkdtempSync(join(tmpdir(), 'meridian-sysfs-'));
let root: string;

beforeEach(() => {
  root = writeMlx5Fixture(join(base, `ib-${Math.random().toString(36).slice(2)}`));
});
afterEach(() => {
  delete process.env.MERIDIAN_INFINIBAND_ROOT;
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

async function ports(r = root): Promise<RdmaPort[]> {
  const res = await readRdmaPorts({ root: r });
  if (!res.available) throw new Error(res.reason);
  return res.ports;
}

describe('RDMA / InfiniBand sysfs reader', () => {
  it('reads state, rate and counters of mlx5 ports', async () => {
    const [p0, p1, p2] = await ports();
    expect(p0).toMatchObject({
      device: 'mlx5_0',
      port: 1,
      boardId: 'MT_0000000838',
      fwVersion: '28.39.1002',
      nodeGuid: 'b83f:d203:00a1:b2c4',
      linkLayer: 'InfiniBand',
      state: { code: 4, name: 'ACTIVE' },
      physState: { code: 5, name: 'LinkUp' },
      rateGbps: 200,
      rate: '200 Gb/sec (4X HDR)',
      lid: 0x12,
      smLid: 1,
      skipped: [],
    });
    expect(p0!.counters.symbol_error).toBe(3);
    expect(p0!.counters.link_downed).toBe(0);
    expect(p0!.counters.port_xmit_data).toBe(123456789);
    expect(p0!.xmitBytes).toBe(123456789 * 4);
    expect(p0!.rcvBytes).toBe(987654321 * 4);
    expect(Object.keys(p0!.counters).sort()).toEqual([...IB_COUNTERS].sort());
    expect(Object.keys(p0!.hwCounters).sort()).toEqual([...MLX5_HW_COUNTERS].sort());
    expect(p0!.hwCounters.out_of_sequence).toBe(7);
    expect(p1).toMatchObject({ device: 'mlx5_1', state: { code: 1, name: 'DOWN' }, physState: { code: 3, name: 'Disabled' }, rateGbps: 10 });
    expect(p2).toMatchObject({ device: 'mlx5_2', linkLayer: 'Ethernet', rateGbps: 400 });
    expect(p2!.hwCounters.np_ecn_marked_roce_packets).toBe(120);
  });

  it('reads the checked-in fixture tree and honours MERIDIAN_INFINIBAND_ROOT', async () => {
    process.env.MERIDIAN_INFINIBAND_ROOT = join(packageDir, 'fixtures', 'sysfs-mlx5');
    const res = await readRdmaPorts();
    expect(res.available).toBe(true);
    expect(res.ports.map((p) => `${p.device}/${p.port}:${p.state?.name}`)).toEqual(['mlx5_0/1:ACTIVE', 'mlx5_1/1:DOWN', 'mlx5_2/1:ACTIVE']);
    expect(res.ports.every((p) => p.skipped.length === 0)).toBe(true);
  });

  it('sees counters change between reads', async () => {
    setFixtureCounter(root, 'mlx5_0', 1, 'link_downed', 1);
    setFixtureCounter(root, 'mlx5_0', 1, 'rnr_nak_retry_err', 42, true);
    setFixturePortFile(root, 'mlx5_0', 1, 'state', '1: DOWN');
    const [p0] = await ports();
    expect(p0!.counters.link_downed).toBe(1);
    expect(p0!.hwCounters.rnr_nak_retry_err).toBe(42);
    expect(p0!.state).toEqual({ code: 1, name: 'DOWN' });
  });

  it('skips a garbled or unreadable counter with the reason and keeps the rest', async () => {
    setFixtureCounter(root, 'mlx5_0', 1, 'symbol_error', 'N/A');
    setFixtureCounter(root, 'mlx5_0', 1, 'out_of_buffer', '-5', true);
    const dirAsFile = join(root, 'mlx5_0', 'ports', '1', 'counters', 'port_rcv_errors');
    rmSync(dirAsFile);
    mkdirSync(dirAsFile); // reading it fails with EISDIR
    setFixturePortFile(root, 'mlx5_0', 1, 'phys_state', 'garbage');
    rmSync(join(root, 'mlx5_0', 'ports', '1', 'rate'));

    const [p0, p1] = await ports();
    expect(p0!.counters.symbol_error).toBeUndefined();
    expect(p0!.counters.port_rcv_errors).toBeUndefined();
    expect(p0!.hwCounters.out_of_buffer).toBeUndefined();
    expect(p0!.counters.link_downed).toBe(0);
    expect(p0!.physState).toBeNull();
    expect(p0!.rateGbps).toBeNull();
    expect(p0!.state).toEqual({ code: 4, name: 'ACTIVE' });
    const byFile = Object.fromEntries(p0!.skipped.map((s) => [s.file, s.reason]));
    expect(byFile['counters/symbol_error']).toBe('not an unsigned integer: "N/A"');
    expect(byFile['hw_counters/out_of_buffer']).toBe('not an unsigned integer: "-5"');
    expect(byFile['counters/port_rcv_errors']).toMatch(/^unreadable: EISDIR/);
    expect(byFile.phys_state).toBe('expected "<n>: <Name>", got "garbage"');
    expect(byFile.rate).toMatch(/^unreadable: ENOENT/);
    expect(p1!.skipped).toEqual([]);
  });

  it('reports a machine without RDMA as unavailable, with the reason', async () => {
    const missing = join(base, 'no-such-dir');
    expect(await readRdmaPorts(missing)).toEqual({
      available: false,
      root: missing,
      reason: `no RDMA devices: ${missing} does not exist (no InfiniBand/RoCE driver loaded)`,
      ports: [],
    });
  });

  it('ignores a device directory without ports and a port without hw_counters', async () => {
    mkdirSync(join(root, 'rxe_stub'));
    rmSync(join(root, 'mlx5_1', 'ports', '1', 'hw_counters'), { recursive: true });
    const all = await ports();
    expect(all.map((p) => p.device)).toEqual(['mlx5_0', 'mlx5_1', 'mlx5_2']);
    expect(all[1]!.hwCounters).toEqual({});
    expect(all[1]!.skipped).toEqual([]);
  });
});
