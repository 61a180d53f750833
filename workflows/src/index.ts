// @meridian/workflows public entry point.
export {};
