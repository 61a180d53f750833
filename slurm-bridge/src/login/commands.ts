// The login-node commands: sbatch, squeue, scancel, sinfo, sacct, sacctmgr, scontrol, talking to the hub.
// Each `*Main` takes an Io and returns the exit code, so tests run them in-process; one file per command.
export { processIo, type Io } from './io.ts';
export { sbatchMain } from './sbatch-cmd.ts';
export { squeueMain } from './squeue.ts';
export { scancelMain } from './scancel.ts';
export { sacctMain } from './sacct.ts';
export { sacctmgrMain } from './sacctmgr.ts';
export { sinfoMain } from './sinfo.ts';
export { scontrolMain } from './scontrol.ts';
