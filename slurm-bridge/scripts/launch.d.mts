// Types for launch.mjs (plain JS: the bin/ wrappers load it with node alone).
export declare class LaunchError extends Error {}
export interface LaunchPaths {
  bundle: string;
  meta: string;
}
export declare function newerInputs(paths?: LaunchPaths): string[];
export declare function loadCommands(cmd: string, paths?: LaunchPaths): Promise<Record<string, unknown>>;
export declare function launch(cmd: string): Promise<Record<string, unknown>>;
