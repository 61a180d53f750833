// @meridian/edge-agent public entry point.
export {};
