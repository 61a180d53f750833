// @meridian/test public entry point.
export {};
