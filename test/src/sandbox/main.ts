// `npm start`: bring up the local federation, print what a user needs, stay up until Ctrl-C.
import { Sandbox, envFile } from './sandbox.ts';

const sandbox = new Sandbox();
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  console.log('\nstopping the sandbox ...');
  try {
    await sandbox.stop();
    console.log('sandbox stopped; no process left behind');
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    code = code || 1;
  }
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  const facts = await sandbox.start();
  console.log('\nsandbox ready');
  for (const [k, v] of Object.entries(facts)) console.log(`  ${k}=${v}`);
  console.log(`\nsource ${envFile} to use it, for example:`);
  console.log('  . .meridian/sandbox.env');
  console.log('  $MERIDIAN_BIN/kubectl --kubeconfig "$KUBECONFIG_US_EAST" get nodes');
  console.log('  SLURM_CONF=$SLURM_CONF sinfo');
  console.log('Ctrl-C stops everything.');
} catch (err) {
  console.error(`sandbox failed to start:\n${err instanceof Error ? err.message : String(err)}`);
  await shutdown(1);
}
