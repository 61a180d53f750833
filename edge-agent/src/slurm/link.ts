// Wiring the Slurm driver to the agent's hub link (edge-agent/src/hub-link): the link calls the handler for
// each hub command and the driver's events go up through `link.emit`. Structural types keep the driver free
// of a dependency on HubLink itself.
import type { AgentEvent, Command } from '@meridian/protocol/agent-protocol';
import type { Outcome, SlurmDriver } from './driver.ts';

/** What the driver needs from a hub link: HubLink from edge-agent/src/hub-link satisfies it. */
export interface EventSink {
  emit(event: AgentEvent): unknown;
}

/** The `onCommand` for `new HubLink({... kind: 'slurm', onCommand })`. */
export function slurmCommandHandler(driver: SlurmDriver): (command: Command) => Promise<Outcome> {
  return async (command) => {
    try {
      switch (command.kind) {
        case 'dispatch': {
          const r = await driver.dispatch(command);
          // Report where it went right away; the poll loop reports changes after that.
          const status = await driver.status(command.jobId, command.attempt);
          return { ok: true, detail: { ...r, phase: status?.phase } };
        }
        case 'cancel':
          return { ok: true, detail: await driver.cancel(command) };
        case 'node':
          return await driver.nodeCommand(command);
        case 'prewarm':
          return await driver.prewarm(command);
        case 'logs':
          return await driver.logs(command);
        case 'hold':
        case 'release':
          return await driver.holdOrRelease(command);
        case 'signal':
          return await driver.signal(command);
      }
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  };
}

/** Sends every driver event up the link; returns an unsubscribe. */
export function forwardEvents(driver: SlurmDriver, link: EventSink): () => void {
  return driver.onEvent((ev) => void link.emit(ev));
}
