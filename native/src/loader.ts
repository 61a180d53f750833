// Finds and loads the compiled addon (native/build/Release/meridian_native.node) in-process.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Raw shapes returned by the C++ addon (see csrc/addon.cc); the typed API lives in nvml.ts. */
export interface RawDeviceSample {
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  health: string;
  metrics: Record<string, number | null>;
  unsupported: string[];
  errors: Record<string, string>;
  nvlinks?: { link: number; active: boolean; replayErrors: number | null; recoveryErrors: number | null; crcFlitErrors: number | null; crcDataErrors: number | null }[];
}

export interface RawEvent {
  kind: string;
  gpu: number;
  uuid: string;
  eventType: number;
  xid?: number;
  data: number;
  timestamp: number;
  message?: string;
}

export interface RawWatch {
  registration: { gpu: number; uuid: string; eventTypes?: number; error?: string }[];
  stop(): Promise<void>;
  unref(): void;
}

export interface RawHandle {
  sample(full: boolean): Promise<RawDeviceSample[]>;
  watch(callback: (ev: RawEvent) => void, timeoutMs: number): RawWatch;
  close(): void;
  isOpen(): boolean;
}

export type RawOpenResult =
  | { available: true; handle: RawHandle; driverVersion: string; nvmlVersion: string; libraryPath: string }
  | { available: false; reason: string; libraryPath: string };

export interface NativeAddon {
  open(libraryPath: string): RawOpenResult;
  abiVersion: number;
}

export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the addon is looked for: $MERIDIAN_NATIVE_ADDON, else native/build/Release/meridian_native.node. */
export function addonPath(): string {
  return process.env.MERIDIAN_NATIVE_ADDON ?? join(packageDir, 'build', 'Release', 'meridian_native.node');
}

let cached: { addon: NativeAddon } | { error: string } | undefined;

/** Loads the addon once per process; returns a clear reason instead of throwing when it is not built. */
export function loadAddon(): { addon: NativeAddon } | { error: string } {
  if (cached) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    return { error: `native addon not built: ${path} is missing (run \`npm run build:native -w native\`)` };
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    if (addon.abiVersion !== 1) return { error: `native addon at ${path} has ABI ${addon.abiVersion}, expected 1: rebuild it` };
    cached = { addon };
  } catch (err) {
    return { error: `native addon failed to load from ${path}: ${(err as Error).message}` };
  }
  return cached;
}
