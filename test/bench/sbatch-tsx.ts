// bench:slurm's `meridianCliTsx` row: the same sbatch code run from TypeScript through tsx, as bin/sbatch did
// before the commands were bundled. Run as: node --import tsx test/bench/sbatch-tsx.ts [sbatch args]
import { processIo, sbatchMain } from '@meridian/slurm-bridge/login/commands';

process.exitCode = await sbatchMain(processIo());
