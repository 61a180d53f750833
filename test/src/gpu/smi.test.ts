import { describe, expect, it } from 'vitest';
import type { GpuInventoryItem } from '@meridian/native';
import { compareInventory, parseSmiInventory, percentile } from './smi.ts';

// A line as nvidia-smi 580.159.04 printed it on an H100 host.
const H100 = '0, GPU-683e20a0-8269-a95e-460e-0a9073519f0d, NVIDIA H100 80GB HBM3, 00000000:00:06.0, 81559, 580.159.04\n';
const addonH100: GpuInventoryItem = {
  index: 0,
  uuid: 'GPU-683e20a0-8269-a95e-460e-0a9073519f0d',
  name: 'NVIDIA H100 80GB HBM3',
  pciBusId: '00000000:00:06.0',
  memoryTotalBytes: 85520809984,
  memoryUsedBytes: 503316480,
  health: 'ok',
  errors: {},
};

describe('nvidia-smi cross-check', () => {
  it('parses the CSV inventory', () => {
    expect(parseSmiInventory(H100)).toEqual([
      { index: 0, uuid: addonH100.uuid, name: 'NVIDIA H100 80GB HBM3', pciBusId: '00000000:00:06.0', memoryTotalMiB: 81559, driverVersion: '580.159.04' },
    ]);
  });

  it('refuses a line that is not the queried columns, naming the line', () => {
    expect(() => parseSmiInventory(`${H100}garbage, here\n`)).toThrow(/line 2 is not "index, uuid, name/);
    expect(() => parseSmiInventory('x, a, b, c, 1, d')).toThrow(/line 1/);
  });

  it('agrees with an addon inventory read on the same host', () => {
    expect(compareInventory([addonH100], '580.159.04', parseSmiInventory(H100))).toEqual([]);
  });

  it('names every field that differs', () => {
    const wrong = { ...addonH100, uuid: 'GPU-other', memoryTotalBytes: 80 * 2 ** 30 };
    const diff = compareInventory([wrong], '570.1', parseSmiInventory(H100));
    expect(diff).toHaveLength(3);
    expect(diff.join('\n')).toMatch(/uuid: addon GPU-other/);
    expect(diff.join('\n')).toMatch(/memory: addon 81920 MiB, nvidia-smi 81559 MiB/);
    expect(diff.join('\n')).toMatch(/driver: addon 570.1/);
    expect(compareInventory([], '580.159.04', parseSmiInventory(H100))).toEqual(['GPU count: addon 0, nvidia-smi 1', 'GPU 0: missing from the addon\'s inventory']);
  });

  it('takes nearest-rank percentiles', () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([], 50)).toBeNaN();
  });
});
