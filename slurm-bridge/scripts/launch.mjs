// Start-up path shared by every bin/ wrapper: load the prebuilt dist/commands.mjs with plain node (no tsx).
// Kept to node:fs/node:path/node:url so it costs well under a millisecond; esbuild is only loaded to
// rebuild a bundle whose sources were edited in this checkout.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const bridgeDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(bridgeDir, '..');
const defaultPaths = { bundle: join(bridgeDir, 'dist', 'commands.mjs'), meta: join(bridgeDir, 'dist', 'commands.meta.json') };

export class LaunchError extends Error {}

/**
 * Source files changed since the bundle was written, by mtime. Empty when the commands are installed
 * without their sources (nothing to compare against).
 */
export function newerInputs(paths = defaultPaths) {
  if (!existsSync(join(bridgeDir, 'src'))) return [];
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(paths.meta, 'utf8')).inputs;
  } catch {
    return [paths.meta];
  }
  const built = statSync(paths.bundle).mtimeMs;
  const stale = [];
  for (const rel of inputs) {
    try {
      if (statSync(join(repoRoot, rel)).mtimeMs > built) stale.push(rel);
    } catch {
      stale.push(rel); // deleted or renamed since the build
    }
  }
  return stale;
}

/**
 * The bundle's module. Missing bundle: a LaunchError telling how to build it (a checkout that was never
 * set up must not run anything). Sources edited since the build (a developer's checkout): rebuilt first, so
 * tests and users never run stale code; where esbuild is not installed that is a LaunchError too.
 */
export async function loadCommands(cmd, paths = defaultPaths) {
  if (!existsSync(paths.bundle)) {
    throw new LaunchError(
      `${cmd}: error: Meridian's commands are not built: ${paths.bundle} is missing.\n` +
        `${cmd}: error: build it with \`npm run setup\` (or \`npm run build -w slurm-bridge\`) in ${repoRoot}\n`,
    );
  }
  const stale = newerInputs(paths);
  if (stale.length > 0) {
    try {
      const { ensureCommandsBundle } = await import('./build-commands.mjs');
      await ensureCommandsBundle({ outDir: dirname(paths.bundle) });
    } catch (err) {
      throw new LaunchError(
        `${cmd}: error: ${paths.bundle} is older than its sources (${stale.slice(0, 3).join(', ')}) and rebuilding it failed: ${err.message}\n` +
          `${cmd}: error: rebuild it with \`npm run setup\` (or \`npm run build -w slurm-bridge\`) in ${repoRoot}\n`,
      );
    }
  }
  return import(pathToFileURL(paths.bundle).href);
}

/** What a bin/ wrapper runs: the command's module, or exit 1 with the LaunchError on stderr. */
export async function launch(cmd) {
  try {
    return await loadCommands(cmd);
  } catch (err) {
    if (!(err instanceof LaunchError)) throw err;
    process.stderr.write(err.message);
    process.exit(1);
  }
}
