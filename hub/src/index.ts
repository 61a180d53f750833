// @meridian/hub public entry point.
export {};
