#!/usr/bin/env node
// Draws the floor plan from the code as it is: dependency-cruiser reads every import, this script folds the
// modules into packages (and the hub into its rooms), lays the packages out by floor and renders SVG with
// Graphviz compiled to WebAssembly, so no system Graphviz is needed.
//   npm run docs:graph   → docs/images/package-graph.svg, docs/images/hub-rooms.svg
// It fails when an arrow points up a floor or the package graph has a cycle, the same facts
// `npm run lint:floors` checks rule by rule.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graphviz } from '@hpcc-js/wasm-graphviz';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FLOORS = [
  ['protocol', 'native'],
  ['workflows', 'slurm-bridge'],
  ['hub', 'edge-agent'],
  ['test'],
];
const floorOf = new Map(FLOORS.flatMap((names, i) => names.map((n) => [n, i])));
const PACKAGES = [...floorOf.keys()];

const r = spawnSync('npx', ['depcruise', ...PACKAGES, '--config', '.dependency-cruiser.cjs', '-T', 'json'], { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 });
if (r.status !== 0 && !r.stdout) throw new Error(`depcruise failed: ${r.stderr}`);
const { modules } = JSON.parse(r.stdout);

const pkgOf = (path) => {
  const p = path.split('/')[0];
  return floorOf.has(p) ? p : undefined;
};
/** package → package → number of import lines (test files counted apart: they only use, never ship). */
function fold(keyOf) {
  const edges = new Map();
  const nodes = new Set();
  for (const m of modules) {
    const from = keyOf(m.source);
    if (!from) continue;
    nodes.add(from);
    for (const d of m.dependencies) {
      const to = keyOf(d.resolved);
      if (!to || to === from) continue;
      const k = `${from}\t${to}`;
      edges.set(k, (edges.get(k) ?? 0) + 1);
    }
  }
  return { nodes, edges };
}

function cycles(nodes, edges) {
  const out = new Map([...nodes].map((n) => [n, []]));
  for (const k of edges.keys()) {
    const [a, b] = k.split('\t');
    out.get(a)?.push(b);
  }
  const found = [];
  const state = new Map();
  const visit = (n, stack) => {
    state.set(n, 'open');
    for (const m of out.get(n) ?? []) {
      if (state.get(m) === 'open') found.push([...stack.slice(stack.indexOf(m)), m].join(' → '));
      else if (!state.has(m)) visit(m, [...stack, m]);
    }
    state.set(n, 'done');
  };
  for (const n of nodes) if (!state.has(n)) visit(n, [n]);
  return found;
}

const pkgs = fold(pkgOf);
const problems = [];
for (const k of pkgs.edges.keys()) {
  const [a, b] = k.split('\t');
  if (floorOf.get(b) >= floorOf.get(a)) problems.push(`${a} (floor ${floorOf.get(a)}) imports ${b} (floor ${floorOf.get(b)})`);
}
problems.push(...cycles(pkgs.nodes, pkgs.edges).map((c) => `cycle: ${c}`));

const DESCRIBE = {
  protocol: 'agent protocol, job spec,\\nSlurm tables, remote-write codec',
  native: 'NVML / XID / RDMA addon',
  workflows: 'Temporal workflow code',
  'slurm-bridge': 'Slurm transports, parsers,\\npower save, login node',
  hub: 'control plane',
  'edge-agent': 'Kubernetes + Slurm drivers,\\ntelemetry forwarder',
  test: 'harness, e2e, benchmarks',
};
const packageDot = [
  'digraph packages {',
  '  rankdir=BT; nodesep=0.6; ranksep=0.7; fontname="Helvetica";',
  '  node [shape=box, style="rounded,filled", fillcolor="#eef3ff", color="#35508f", fontname="Helvetica", fontsize=12, margin="0.35,0.1"];',
  '  edge [color="#35508f99", fontname="Helvetica", fontsize=9, arrowsize=0.7];',
  ...FLOORS.map((names, i) => `  { rank=same; floor${i} [shape=plaintext, style="", label="floor ${i}", fontcolor="#888888"]; ${names.map((n) => `"${n}"`).join('; ')}; }`),
  ...FLOORS.slice(1).map((_, i) => `  floor${i} -> floor${i + 1} [style=invis];`),
  ...PACKAGES.map((n) => `  "${n}" [label=<<b>${n}</b><br/><font point-size="9">${DESCRIBE[n].replace(/\\n/g, '<br/>')}</font>>];`),
  ...[...pkgs.edges].map(([k, n]) => {
    const [a, b] = k.split('\t');
    return `  "${a}" -> "${b}" [label="${n}"${floorOf.get(a) - floorOf.get(b) > 1 ? ', constraint=false' : ''}];`;
  }),
  '}',
].join('\n');

// The hub's rooms: its first-level folders under src/, and the files directly in src/ (main.ts, config.ts, ...).
const roomOf = (path) => {
  const m = /^hub\/src\/([^/]+)(\/)?/.exec(path);
  if (!m) return undefined;
  if (/\.test\.ts$/.test(path)) return undefined;
  return m[2] ? `${m[1]}/` : m[1];
};
const rooms = fold(roomOf);
const roomCycles = cycles(rooms.nodes, rooms.edges);
const roomDot = [
  'digraph hub {',
  '  rankdir=TB; nodesep=0.35; ranksep=0.5; fontname="Helvetica";',
  '  node [shape=box, style="rounded,filled", fillcolor="#f3f7ee", color="#4d7a2a", fontname="Helvetica", fontsize=11, margin="0.25,0.06"];',
  '  edge [color="#4d7a2a88", fontname="Helvetica", fontsize=8, arrowsize=0.6];',
  ...[...rooms.nodes].map((n) => `  "${n}" [label="${n}"${n.endsWith('/') ? '' : ', fillcolor="#ffffff"'}];`),
  ...[...rooms.edges].map(([k, n]) => {
    const [a, b] = k.split('\t');
    return `  "${a}" -> "${b}" [label="${n}"];`;
  }),
  '}',
].join('\n');

const graphviz = await Graphviz.load();
const out = join(root, 'docs', 'images');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'package-graph.svg'), graphviz.dot(packageDot, 'svg'));
writeFileSync(join(out, 'hub-rooms.svg'), graphviz.dot(roomDot, 'svg'));
console.log(`packages: ${pkgs.nodes.size}, arrows: ${pkgs.edges.size}; hub rooms: ${rooms.nodes.size}, arrows: ${rooms.edges.size}${roomCycles.length ? `, room cycles: ${roomCycles.join('; ')}` : ''}`);
console.log('wrote docs/images/package-graph.svg and docs/images/hub-rooms.svg');
if (problems.length) {
  console.error(`the floor plan is broken:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
