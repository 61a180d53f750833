// @meridian/slurm-bridge public entry point.
export {};
