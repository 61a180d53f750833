#!/usr/bin/env node
// The `meridian` CLI: runs the TypeScript sources through tsx, so it works from any directory without a build.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
