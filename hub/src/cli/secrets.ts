// `meridian admin reseal`: key rotation for the sealed job environments (docs/security.md). Needs database
// access and the hub's keys: MERIDIAN_SECRETS_KEY (the new current key) and MERIDIAN_SECRETS_OLD_KEYS.
import type { Command } from 'commander';
import { CliError } from './client.ts';

export function secretsCommands(program: Command): void {
  const admin = program.commands.find((c) => c.name() === 'admin') ?? program.command('admin');
  admin
    .command('reseal')
    .description('re-seal every job environment under MERIDIAN_SECRETS_KEY (opening older rows with MERIDIAN_SECRETS_OLD_KEYS); run after rotating the key, then drop the old key')
    .option('--database-url <url>', 'Postgres URL', process.env.DATABASE_URL)
    .action(async (o: { databaseUrl?: string }) => {
      if (!o.databaseUrl) throw new CliError('give --database-url or set DATABASE_URL');
      const { configFromEnv, secretsKeyring } = await import('../config.ts');
      let keyring;
      try {
        keyring = secretsKeyring(configFromEnv(process.env));
      } catch (err) {
        throw new CliError(`meridian admin reseal: ${(err as Error).message}`);
      }
      const { createPool } = await import('../store/db.ts');
      const { migrate } = await import('../store/migrate.ts');
      const { resealJobEnv, sealLegacyEnv, sealedByKey } = await import('../store/repos/job-env.ts');
      const pool = createPool(o.databaseUrl);
      try {
        await migrate(pool);
        const legacy = await sealLegacyEnv(pool, keyring);
        const moved = await resealJobEnv(pool, keyring);
        process.stdout.write(`current key ${keyring.currentId}: re-sealed ${moved} job environments${legacy ? `, sealed ${legacy} stored in plaintext` : ''}\n`);
        const byKey = await sealedByKey(pool);
        for (const k of byKey) process.stdout.write(`  ${k.keyId}: ${k.rows} rows${k.keyId === keyring.currentId ? ' (current)' : ''}\n`);
        if (byKey.every((k) => k.keyId === keyring.currentId)) process.stdout.write('every row is under the current key: old keys may now leave MERIDIAN_SECRETS_OLD_KEYS\n');
        else throw new CliError('some rows were busy and are still under an old key; run meridian admin reseal again');
      } finally {
        await pool.end();
      }
    });
}
