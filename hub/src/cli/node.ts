// `meridian node cordon|uncordon|drain <cluster> <node>`: node commands through the hub to the cluster's agent.
import type { Command } from 'commander';
import { CliError, HubClient } from './client.ts';
import { parseDuration } from './format.ts';

interface CommandView {
  commandId: string;
  state: 'pending' | 'delivered' | 'done';
  result: { ok?: boolean; error?: string; detail?: unknown } | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function nodeCommands(program: Command): void {
  const node = program.command('node').description('node commands sent to a cluster\'s agent (admin)');
  for (const op of ['cordon', 'uncordon', 'drain'] as const) {
    node
      .command(`${op} <cluster> <node>`)
      .description(`${op} a node`)
      .option('--reason <text>', 'why (recorded in the audit log and on the node)', '')
      .option('--timeout-seconds <n>', 'how long the agent may take (drain)', '120')
      .option('--wait', 'wait for the agent\'s result; non-zero exit if it failed')
      .option('--timeout <duration>', 'give up waiting after this long', '10m')
      .action(async (cluster: string, name: string, o: { reason: string; timeoutSeconds: string; wait?: boolean; timeout: string }) => {
        const client = new HubClient();
        const base = `/api/v1/clusters/${encodeURIComponent(cluster)}`;
        const sent = await client.request<{ commandId: string }>('POST', `${base}/nodes/${encodeURIComponent(name)}/${op}`, { reason: o.reason, timeoutSeconds: Number(o.timeoutSeconds) });
        process.stdout.write(`sent ${op} of ${cluster}/${name} (command ${sent.commandId})\n`);
        if (!o.wait) return;
        const deadline = Date.now() + parseDuration(o.timeout);
        for (;;) {
          const c = await client.request<CommandView>('GET', `${base}/commands/${sent.commandId}`);
          if (c.state === 'done') {
            if (c.result?.ok === false) throw new CliError(`${op} of ${cluster}/${name} failed: ${c.result.error ?? 'no reason given'}`);
            process.stdout.write(`${op} of ${cluster}/${name} done\n`);
            return;
          }
          if (Date.now() > deadline) throw new CliError(`${op} of ${cluster}/${name} is still ${c.state} after ${o.timeout}`, 124);
          await sleep(500);
        }
      });
  }
}
