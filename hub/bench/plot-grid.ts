// Plot of the workload-family grid: one panel per family, unallocated GPU share at 130% arrival against
// the family level, one line per variant. Reads the last JSON line that `bench:trace` printed (a file, or
// stdin) and writes a standalone SVG.
// Usage: npm run --silent bench:trace -- --grid-only > grid.txt
//        npx tsx hub/bench/plot-grid.ts grid.txt docs/img/scheduling-grid.svg
import { readFileSync, writeFileSync } from 'node:fs';
import type { GridResult, GridRow } from './family-grid.ts';

const [input, output] = process.argv.slice(2);
if (!output) {
  console.error('usage: tsx hub/bench/plot-grid.ts <bench:trace output file | -> <out.svg>');
  process.exit(2);
}
const text = readFileSync(input === '-' ? 0 : input!, 'utf8');
const line = text
  .trim()
  .split('\n')
  .reverse()
  .find((l) => l.startsWith('{') && l.includes('"grid"'));
if (!line) {
  console.error(`${input}: no JSON line with a "grid" field; run npm run bench:trace -- --grid-only and pass its output`);
  process.exit(2);
}
const grid = (JSON.parse(line) as { grid: GridResult }).grid;

const COLORS: Record<string, string> = {
  fgd: '#d62728',
  'best-fit': '#7f7f7f',
  'balanced (default)': '#1f77b4',
  'inventory-first': '#2ca02c',
  'cost-first': '#ff7f0e',
  'locality-first': '#9467bd',
};
const DASH: Record<string, string> = { fgd: '6 3', 'best-fit': '2 3' };
const families = [...new Set(grid.rows.map((r) => r.family))];
const variants = Object.keys(grid.rows[0]!.unallocated);
const PW = 300;
const PH = 220;
const M = { l: 48, r: 12, t: 28, b: 40 };
const W = families.length * (PW + M.l + M.r);
const H = PH + M.t + M.b + 26 + 18 * Math.ceil(variants.length / 3);
const out: string[] = [];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`);
out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
families.forEach((family, fi) => {
  const rows = grid.rows.filter((r) => r.family === family);
  const x0 = fi * (PW + M.l + M.r) + M.l;
  const y0 = M.t;
  const levels = rows.map((r) => r.level);
  const xmin = Math.min(...levels);
  const xmax = Math.max(...levels);
  const ymax = Math.max(...rows.flatMap((r) => Object.values(r.unallocated))) * 1.08;
  const X = (v: number): number => x0 + ((v - xmin) / Math.max(1e-9, xmax - xmin)) * PW;
  const Y = (v: number): number => y0 + PH - (v / ymax) * PH;
  out.push(`<text x="${x0 + PW / 2}" y="${y0 - 10}" text-anchor="middle" font-weight="bold">${esc(family)}</text>`);
  out.push(`<rect x="${x0}" y="${y0}" width="${PW}" height="${PH}" fill="none" stroke="#ccc"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = (ymax * k) / 4;
    out.push(`<line x1="${x0}" x2="${x0 + PW}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/><text x="${x0 - 4}" y="${Y(v) + 4}" text-anchor="end">${(v * 100).toFixed(1)}%</text>`);
  }
  for (const l of levels) out.push(`<text x="${X(l)}" y="${y0 + PH + 14}" text-anchor="middle">${l}</text>`);
  out.push(`<text x="${x0 + PW / 2}" y="${y0 + PH + 30}" text-anchor="middle" fill="#555">${esc(family)} level</text>`);
  for (const v of variants) {
    const pts = rows.map((r: GridRow) => `${X(r.level).toFixed(1)},${Y(r.unallocated[v]!).toFixed(1)}`).join(' ');
    const width = v === 'balanced (default)' ? 2.5 : 1.5;
    out.push(`<polyline points="${pts}" fill="none" stroke="${COLORS[v] ?? '#000'}" stroke-width="${width}"${DASH[v] ? ` stroke-dasharray="${DASH[v]}"` : ''}/>`);
  }
});
variants.forEach((v, i) => {
  const x = 20 + (i % 3) * 220;
  const y = PH + M.t + M.b + 20 + Math.floor(i / 3) * 18;
  out.push(`<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${COLORS[v] ?? '#000'}" stroke-width="2"${DASH[v] ? ` stroke-dasharray="${DASH[v]}"` : ''}/><text x="${x + 30}" y="${y}">${esc(v)}</text>`);
});
out.push(`<text x="${W - 10}" y="${H - 8}" text-anchor="end" fill="#555">unallocated GPUs at 130% arrival; average default/FGD ${grid.averageRatio.toFixed(3)} (${grid.nodes} nodes, ${grid.seeds} seed(s))</text>`);
out.push('</svg>');
writeFileSync(output, out.join('\n') + '\n');
console.log(`wrote ${output}`);
