// @meridian/native public entry point.
export {};
