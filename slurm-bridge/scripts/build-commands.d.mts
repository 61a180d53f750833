// Types for build-commands.mjs (plain JS so that setup.mjs can run it without tsx).
export declare const bridgeDir: string;
export declare const BUNDLE: string;
export declare const META: string;
export interface BundlePaths {
  outDir: string;
  bundle: string;
  meta: string;
}
export declare function bundlePaths(outDir?: string): BundlePaths;
export declare function inputsHash(inputs: string[], esbuildVersion: string): string | null;
export type EnsureResult = BundlePaths & ({ built: false } | { built: true; ms: number; inputs: number; bytes: number });
export declare function ensureCommandsBundle(opts?: { force?: boolean; outDir?: string }): Promise<EnsureResult>;
