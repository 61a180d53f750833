// Replays recorded workflow histories against the current workflow code: a change that breaks determinism for
// running workflows fails here. RECORD_HISTORIES=1 records them: job-lifecycle ones in test/src/hub/e2e.engine.test.ts,
// gpu-remediation-returned.json in test/src/e2e/self-healing.engine.test.ts (gpu-remediation-returned-cancel-grace.json
// is an older one, from before the checkpoint `signal` command: no timer between checkpoint and requeue).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from './worker.ts';

const DIR = fileURLToPath(new URL('./histories/', import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('workflow replay over recorded histories', () => {
  it('has recorded histories', () => {
    expect(files).toEqual(expect.arrayContaining(['succeeded.json', 'cancelled-running.json', 'cluster-lost-requeued.json', 'gpu-remediation-returned.json']));
  });
  it.each(files)('replays %s deterministically', async (file) => {
    const history = proto.api.history.v1.History.fromObject(JSON.parse(readFileSync(DIR + file, 'utf8')) as Record<string, unknown>);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file);
  }, 120_000);
});
