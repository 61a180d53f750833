// Slurm's hostlist compression: gpu-0,gpu-1,gpu-3,cpu → cpu,gpu-[0-1,3] (same-width numeric suffixes grouped).
export function compressHostlist(names: string[]): string {
  const groups = new Map<string, { width: number; nums: number[] }>();
  const plain: string[] = [];
  for (const n of [...new Set(names)]) {
    const m = /^(.*?)(\d+)$/.exec(n);
    if (!m) {
      plain.push(n);
      continue;
    }
    const key = `${m[1]}\u0000${m[2]!.startsWith('0') && m[2]!.length > 1 ? m[2]!.length : 0}`;
    const g = groups.get(key) ?? { width: m[2]!.startsWith('0') && m[2]!.length > 1 ? m[2]!.length : 0, nums: [] };
    g.nums.push(Number(m[2]));
    groups.set(key, g);
  }
  const out: string[] = [...plain];
  for (const [key, g] of groups) {
    const prefix = key.split('\u0000')[0]!;
    const nums = [...new Set(g.nums)].sort((a, b) => a - b);
    const pad = (x: number) => String(x).padStart(g.width, '0');
    if (nums.length === 1) {
      out.push(`${prefix}${pad(nums[0]!)}`);
      continue;
    }
    const ranges: string[] = [];
    for (let i = 0; i < nums.length; ) {
      let j = i;
      while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
      ranges.push(i === j ? pad(nums[i]!) : `${pad(nums[i]!)}-${pad(nums[j]!)}`);
      i = j + 1;
    }
    out.push(`${prefix}[${ranges.join(',')}]`);
  }
  return out.sort().join(',');
}
