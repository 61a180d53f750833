// Signals to a whole process group: engines fork workers that must go down with their parent. A leaf module
// so the run-directory reaper and the daemon supervisor can both use it without importing each other.
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}
