// Where each Meridian package lives on disk, found through Node's module resolution (its package.json
// export) so tests and benchmarks reach a package's files (bins, fixtures, workflow sources) without
// hard-coding relative paths across the repository.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export type MeridianPackage = 'protocol' | 'native' | 'workflows' | 'slurm-bridge' | 'hub' | 'edge-agent' | 'test';

/** The package's root folder (the one holding its package.json). */
export function packageDir(name: MeridianPackage): string {
  return dirname(require.resolve(`@meridian/${name}/package.json`));
}

/** A path inside a package: `packagePath('hub', 'bin/meridian.js')`. */
export function packagePath(name: MeridianPackage, ...parts: string[]): string {
  return join(packageDir(name), ...parts);
}

/** The repository root (the folder above the packages): examples/, charts/, docs/. */
export function repoPath(...parts: string[]): string {
  return join(packageDir('test'), '..', ...parts);
}
