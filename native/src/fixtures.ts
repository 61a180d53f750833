// Stand-ins for hardware these machines lack, for tests and the sandbox: the fake NVML library (built from C,
// scripted per test) and sysfs trees shaped like mlx5 RDMA ports. Kept out of the package's main entry point
// so product code never reaches for them by accident.
export {
  FAKE_NVML_PATH,
  buildAddonIfStale,
  buildFakeNvml,
  renderFakeNvmlScript,
  writeFakeNvmlScript,
} from './fake-nvml.ts';
export type { FakeEvent, FakeGpu, FakeNvmlScript } from './fake-nvml.ts';
export { DEFAULT_MLX5_DEVICES, setFixtureCounter, setFixturePortFile, writeMlx5Fixture } from './sysfs-fixture.ts';
export type { FixtureDevice, FixturePort } from './sysfs-fixture.ts';
