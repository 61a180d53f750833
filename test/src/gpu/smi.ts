// Pure helpers of the real-GPU check: nvidia-smi's CSV inventory and its comparison with the addon's.
import type { GpuInventoryItem } from '@meridian/native';

export interface SmiGpu {
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  memoryTotalMiB: number;
  driverVersion: string;
}

/** `nvidia-smi --query-gpu=index,uuid,name,pci.bus_id,memory.total,driver_version --format=csv,noheader,nounits` */
export function parseSmiInventory(csv: string): SmiGpu[] {
  return csv
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line, i) => {
      const f = line.split(',').map((s) => s.trim());
      const index = Number(f[0]);
      const memoryTotalMiB = Number(f[4]);
      if (f.length !== 6 || !Number.isInteger(index) || !Number.isFinite(memoryTotalMiB)) {
        throw new Error(`nvidia-smi line ${i + 1} is not "index, uuid, name, pci.bus_id, memory.total, driver_version": ${JSON.stringify(line)}`);
      }
      return { index, uuid: f[1]!, name: f[2]!, pciBusId: f[3]!, memoryTotalMiB, driverVersion: f[5]! };
    });
}

/** What differs between the addon's inventory and nvidia-smi's; empty when they agree. */
export function compareInventory(addon: GpuInventoryItem[], driverVersion: string, smi: SmiGpu[]): string[] {
  const out: string[] = [];
  if (addon.length !== smi.length) out.push(`GPU count: addon ${addon.length}, nvidia-smi ${smi.length}`);
  for (const s of smi) {
    const a = addon.find((g) => g.index === s.index);
    if (!a) {
      out.push(`GPU ${s.index}: missing from the addon's inventory`);
      continue;
    }
    if (a.uuid !== s.uuid) out.push(`GPU ${s.index} uuid: addon ${a.uuid}, nvidia-smi ${s.uuid}`);
    if (a.name !== s.name) out.push(`GPU ${s.index} name: addon ${a.name}, nvidia-smi ${s.name}`);
    if (a.pciBusId.toLowerCase() !== s.pciBusId.toLowerCase()) out.push(`GPU ${s.index} PCI bus id: addon ${a.pciBusId}, nvidia-smi ${s.pciBusId}`);
    const addonMiB = a.memoryTotalBytes === null ? null : Math.round(a.memoryTotalBytes / 2 ** 20);
    if (addonMiB !== s.memoryTotalMiB) out.push(`GPU ${s.index} memory: addon ${addonMiB} MiB, nvidia-smi ${s.memoryTotalMiB} MiB`);
    if (s.driverVersion !== driverVersion) out.push(`driver: addon ${driverVersion}, nvidia-smi ${s.driverVersion}`);
  }
  return out;
}

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
