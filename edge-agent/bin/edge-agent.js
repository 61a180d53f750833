#!/usr/bin/env node
// The `edge-agent` process: runs the TypeScript sources through tsx, so it works without a build.
import { register } from 'tsx/esm/api';

register();
const { cli } = await import('../src/main.ts');
cli(process.argv);
