// @meridian/hub public entry point.
export { startHub, configFromEnv, HUB_VERSION } from './main.ts';
export type { Hub, HubConfig } from './main.ts';
