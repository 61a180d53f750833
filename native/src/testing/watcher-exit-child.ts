// Child process for watcher-exit.test.ts: opens the fake NVML, starts an event watcher and ends the way argv[2]
// names, with nothing else holding the event loop. The parent asserts a clean exit (code 0, no abort) and the
// line this prints last.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { FAKE_NVML_PATH } from '../fake-nvml.ts';
import { openNvml } from '../nvml.ts';
import type { EventWatcher, Nvml } from '../nvml.ts';

export const CHILD_MODES = ['unref-stop', 'unref-stop-no-await', 'stop-then-exit', 'unref-only', 'workers'] as const;

function start(): { nvml: Nvml; watcher: EventWatcher } {
  const nvml = openNvml({ libraryPath: FAKE_NVML_PATH });
  if (!nvml.available) throw new Error(nvml.reason);
  const watcher = nvml.watchEvents(() => {}, { waitTimeoutMs: 200 });
  // What the agent's telemetry source does: the watcher must never keep the process alive on its own.
  watcher.unref();
  return { nvml, watcher };
}

async function runWorker(mode: string): Promise<number> {
  // Loader hooks from --import do not reach workers on Node 20: register tsx inside the worker first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const w = new Worker(code, { eval: true, argv: [mode] });
  return new Promise<number>((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
    w.on('message', () => void w.terminate());
  });
}

async function run(mode: string): Promise<void> {
  switch (mode) {
    case 'unref-stop': {
      const { nvml, watcher } = start();
      await watcher.stop();
      nvml.close();
      console.log('stopped');
      return;
    }
    case 'unref-stop-no-await': {
      // The pending stop() alone holds the loop until the thread has exited and the promise settles.
      const { nvml, watcher } = start();
      void watcher.stop().then(() => console.log('stopped'));
      nvml.close();
      return;
    }
    case 'stop-then-exit': {
      // Exit while stop() is pending: the watcher is finalized during teardown, when JS can no longer run.
      const { watcher } = start();
      void watcher.stop();
      console.log('stopped');
      process.exit(0);
      return;
    }
    case 'unref-only': {
      // Never stopped: the environment cleanup hook joins the thread at exit.
      start();
      console.log('stopped');
      return;
    }
    case 'worker-terminate': {
      // A worker terminated while its stop() is pending.
      const { watcher } = start();
      void watcher.stop();
      setInterval(() => {}, 1000);
      parentPort?.postMessage('terminate me');
      return;
    }
    case 'workers': {
      const a = await runWorker('unref-stop');
      const b = await runWorker('worker-terminate');
      if (a !== 0) throw new Error(`worker unref-stop exited with ${a}`);
      console.log(`terminated worker exited with ${b}`);
      console.log('stopped');
      return;
    }
    default:
      throw new Error(`unknown mode '${mode}': use one of ${CHILD_MODES.join(', ')}`);
  }
}

await run(isMainThread ? (process.argv[2] ?? '') : String(process.argv[2]));
