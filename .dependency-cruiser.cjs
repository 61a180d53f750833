// The floor plan, checked on every `npm test` (`npm run lint:floors`). Packages stand on floors; an import may
// point down or sideways into its own package, never up, never across a floor to a neighbour, never by a
// relative path into another package, and never round in a circle. docs/architecture.md draws the result.
//
//   floor 3  test                                 harness, real-engine and end-to-end tests, benchmarks
//   floor 2  hub            edge-agent            the control plane | the member-side agent (Kubernetes, Slurm)
//   floor 1  workflows      slurm-bridge          Temporal workflow code | the Slurm library and login node
//   floor 0  protocol       native                what two packages both speak | the NVML/RDMA addon
const FLOORS = {
  protocol: [],
  native: [],
  workflows: ['protocol'],
  'slurm-bridge': ['protocol'],
  hub: ['protocol', 'workflows'],
  'edge-agent': ['protocol', 'native', 'slurm-bridge'],
  test: ['protocol', 'native', 'workflows', 'slurm-bridge', 'hub', 'edge-agent'],
};
const PACKAGES = Object.keys(FLOORS);
const any = (names) => `^(${names.join('|')})/`;

/** One rule per package: it may reach only itself and the packages on the floors below it that it names. */
const floorRules = PACKAGES.map((pkg) => {
  const forbidden = PACKAGES.filter((p) => p !== pkg && !FLOORS[pkg].includes(p));
  return {
    name: `floor-${pkg}`,
    comment: `${pkg} may import only ${FLOORS[pkg].length ? FLOORS[pkg].join(', ') : 'nothing of ours'}: every import points down the floor order`,
    severity: 'error',
    from: { path: `^${pkg}/` },
    to: { path: any(forbidden.length ? forbidden : ['(?!)']) },
  };
});

module.exports = {
  forbidden: [
    ...floorRules,
    {
      name: 'no-relative-package-import',
      comment: 'another package is imported by its name (@meridian/<pkg>/...) through its exports, never by ../<pkg>/src',
      severity: 'error',
      from: { path: any(PACKAGES) },
      to: { dependencyTypes: ['local'], pathNot: '^$1/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle, inside a package or between packages',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'pure-scheduler',
      comment: 'hub/src/scheduler is the pure, deterministic algorithm: it imports only its own files and @meridian/protocol (no node:, no store, no I/O)',
      severity: 'error',
      from: { path: '^hub/src/scheduler/', pathNot: '\\.test\\.ts$' },
      to: { pathNot: '^(hub/src/scheduler/|protocol/src/)' },
    },
    {
      name: 'store-is-the-bottom-of-the-hub',
      comment: 'the hub store (SQL) serves every room above it and imports none of them',
      severity: 'error',
      from: { path: '^hub/src/store/' },
      to: { path: '^hub/src/(api|cli|gateway|scheduler-loop|telemetry|temporal|power)/' },
    },
    {
      name: 'no-test-code-in-products',
      comment: "a package's shipped code never imports tests, test doubles or the harness",
      severity: 'error',
      from: { path: any(PACKAGES.filter((p) => p !== 'test')), pathNot: '(\\.test\\.ts$|/testing/|/bench/)' },
      to: { path: '(\\.test\\.ts$|/testing/)' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves (a typo or a missing export is an error here, not at run time)',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['development', 'import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.d.ts', '.d.mts', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      archi: { collapsePattern: any(PACKAGES) },
      dot: { collapsePattern: any(PACKAGES) },
    },
  },
};
