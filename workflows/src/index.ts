// @meridian/workflows: Temporal workflow code (bundled by the hub's worker).
export * from './job-lifecycle.ts';
export * from './gpu-remediation.ts';
