// Admin and account commands: login, whoami, token, admin bootstrap, project (create, list, delete, member),
// user, cluster (add, list, credential, delete), nodes.
import type { Command } from 'commander';
import { CliError, HubClient, loadConfig, saveConfig } from './client.ts';
import { print, table } from './format.ts';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function keyValues(pairs: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`${what} "${p}" must look like KEY=VALUE`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

export function adminCommands(program: Command): void {
  program
    .command('login')
    .description('save the hub URL and your token (~/.config/meridian/config.json)')
    .requiredOption('--token <token>', 'an API token (meridian token create, or from your admin)')
    .option('--url <url>', 'hub URL', process.env.MERIDIAN_URL ?? 'http://127.0.0.1:8080')
    .action(async (o: { token: string; url: string }) => {
      const client = new HubClient({ url: o.url.replace(/\/$/, ''), token: o.token });
      const me = await client.request<{ name: string }>('GET', '/api/v1/users/me');
      saveConfig(client.cfg);
      process.stdout.write(`logged in to ${o.url} as ${me.name}\n`);
    });

  program
    .command('whoami')
    .description('the user behind your token, with project roles')
    .option('--json')
    .action(async (o: { json?: boolean }) => {
      const me = await new HubClient().request<{ name: string; isAdmin: boolean; roles: Record<string, string> }>('GET', '/api/v1/users/me');
      print(me, Boolean(o.json), () => `${me.name}${me.isAdmin ? ' (hub admin)' : ''} at ${loadConfig().url}\n${Object.entries(me.roles).map(([p, r]) => `  ${p}: ${r}`).join('\n')}`);
    });

  const token = program.command('token').description('API tokens');
  token
    .command('create')
    .description('create a token (shown once)')
    .option('--user <name>', 'for another user (admins)', 'me')
    .option('--name <label>', 'a label', '')
    .action(async (o: { user: string; name: string }) => {
      const t = await new HubClient().request<{ token: string }>('POST', `/api/v1/users/${encodeURIComponent(o.user)}/tokens`, { name: o.name });
      process.stdout.write(`${t.token}\n`);
    });
  token
    .command('list')
    .option('--user <name>', 'user', 'me')
    .action(async (o: { user: string }) => {
      const r = await new HubClient().request<{ items: Record<string, unknown>[] }>('GET', `/api/v1/users/${encodeURIComponent(o.user)}/tokens`);
      process.stdout.write(`${table(r.items, ['id', 'name', 'prefix', 'createdAt', 'lastUsedAt'])}\n`);
    });

  token
    .command('revoke <id>')
    .description('revoke a token: it stops working, and the event streams opened with it end within seconds')
    .option('--user <name>', 'user', 'me')
    .action(async (id: string, o: { user: string }) => {
      await new HubClient().request('DELETE', `/api/v1/users/${encodeURIComponent(o.user)}/tokens/${encodeURIComponent(id)}`);
      process.stdout.write(`revoked token ${id}\n`);
    });

  program
    .command('admin')
    .description('hub administration that needs database access')
    .command('bootstrap')
    .description('create the first admin and print its token (idempotent with --token)')
    .option('--database-url <url>', 'Postgres URL', process.env.DATABASE_URL)
    .option('--name <name>', 'admin user name', 'admin')
    .option('--token <token>', 'use this token instead of a random one')
    .action(async (o: { databaseUrl?: string; name: string; token?: string }) => {
      if (!o.databaseUrl) throw new CliError('give --database-url or set DATABASE_URL');
      const { createPool } = await import('../store/db.ts');
      const { migrate } = await import('../store/migrate.ts');
      const { bootstrapAdmin } = await import('../bootstrap.ts');
      const { newSecret } = await import('../store/hash.ts');
      const pool = createPool(o.databaseUrl);
      try {
        await migrate(pool);
        const t = o.token ?? newSecret('mrd');
        const r = await bootstrapAdmin(pool, o.name, t);
        process.stderr.write(r.created ? `created admin ${r.user}\n` : `token already belongs to ${r.user}\n`);
        process.stdout.write(`${t}\n`);
      } finally {
        await pool.end();
      }
    });

  const project = program.command('project').description('projects');
  project
    .command('create <name>')
    .option('--weight <w>', 'fair-share weight', '1')
    .option('--max-pending <n>', 'queued jobs allowed before 429')
    .option('--gpu-quota <n>', 'total GPUs')
    .option('--budget-usd <usd>')
    .option('--budget-gpu-hours <h>')
    .option('--policy <policy>', 'inventory-first | cost-first | locality-first | balanced')
    .action(async (name: string, o: { weight: string; maxPending?: string; gpuQuota?: string; budgetUsd?: string; budgetGpuHours?: string; policy?: string }) => {
      const body: Record<string, unknown> = { name, weight: Number(o.weight) };
      if (o.maxPending) body.maxPending = Number(o.maxPending);
      if (o.gpuQuota) body.quota = { totalGpus: Number(o.gpuQuota) };
      if (o.budgetUsd || o.budgetGpuHours) body.budget = { ...(o.budgetUsd ? { usd: Number(o.budgetUsd) } : {}), ...(o.budgetGpuHours ? { gpuHours: Number(o.budgetGpuHours) } : {}) };
      if (o.policy) body.policy = o.policy;
      await new HubClient().request('POST', '/api/v1/projects', body);
      process.stdout.write(`created project ${name}\n`);
    });
  project
    .command('list')
    .option('--json')
    .action(async (o: { json?: boolean }) => {
      const r = await new HubClient().request<{ items: Record<string, unknown>[] }>('GET', '/api/v1/projects');
      print(r.items, Boolean(o.json), () => table(r.items, ['name', 'weight', 'quota', 'budget', 'maxPending']));
    });
  project
    .command('delete <name>')
    .description('archive a project (admin): no new jobs, members lose access, history stays; refused while jobs are live')
    .action(async (name: string) => {
      await new HubClient().request('DELETE', `/api/v1/projects/${encodeURIComponent(name)}`);
      process.stdout.write(`archived project ${name}\n`);
    });
  project
    .command('member <project> <user> <role>')
    .description("set a user's role (admin | member | viewer)")
    .action(async (p: string, user: string, role: string) => {
      await new HubClient().request('PUT', `/api/v1/projects/${encodeURIComponent(p)}/members/${encodeURIComponent(user)}`, { role });
      process.stdout.write(`${user} is ${role} in ${p}\n`);
    });

  program
    .command('user')
    .description('users')
    .command('create <name>')
    .option('--admin', 'hub administrator')
    .option('--email <email>')
    .option('--project <project=role>', 'project role (repeatable)', collect, [])
    .option('--token', 'also create and print a token')
    .action(async (name: string, o: { admin?: boolean; email?: string; project: string[]; token?: boolean }) => {
      const client = new HubClient();
      await client.request('POST', '/api/v1/users', { name, isAdmin: Boolean(o.admin), ...(o.email ? { email: o.email } : {}), projects: keyValues(o.project, '--project') });
      process.stderr.write(`created user ${name}\n`);
      if (o.token) process.stdout.write(`${(await client.request<{ token: string }>('POST', `/api/v1/users/${encodeURIComponent(name)}/tokens`, { name: 'cli' })).token}\n`);
    });

  const cluster = program.command('cluster').description('member clusters');
  cluster
    .command('add <id>')
    .description('add a cluster; prints the agent credential (shown once)')
    .requiredOption('--region <region>')
    .option('--kind <kind>', 'kubernetes | slurm', 'kubernetes')
    .option('--price <model=usd>', '$ per GPU-hour, on demand (repeatable)', collect, [])
    .option('--json')
    .action(async (id: string, o: { region: string; kind: string; price: string[]; json?: boolean }) => {
      const prices = Object.fromEntries(Object.entries(keyValues(o.price, '--price')).map(([m, v]) => [m, { onDemand: Number(v) }]));
      const r = await new HubClient().request<{ credential: string }>('POST', '/api/v1/clusters', { id, region: o.region, kind: o.kind, prices });
      print(r, Boolean(o.json), () => r.credential);
    });
  cluster
    .command('credential <id>')
    .description('rotate the agent credential (admin): prints the new one; the old one and its open session end at once')
    .action(async (id: string) => {
      const r = await new HubClient().request<{ credential: string }>('POST', `/api/v1/clusters/${encodeURIComponent(id)}/credential`);
      process.stdout.write(`${r.credential}\n`);
    });
  cluster
    .command('delete <id>')
    .description('archive a drained cluster (admin): revokes its credential; refused while jobs are live or nodes uncordoned (meridian node drain)')
    .action(async (id: string) => {
      await new HubClient().request('DELETE', `/api/v1/clusters/${encodeURIComponent(id)}`);
      process.stdout.write(`archived cluster ${id}; its agent credential is revoked\n`);
    });
  cluster
    .command('list')
    .option('--json')
    .action(async (o: { json?: boolean }) => {
      const r = await new HubClient().request<{ items: Record<string, unknown>[] }>('GET', '/api/v1/clusters');
      print(r.items, Boolean(o.json), () => table(r.items, ['id', 'region', 'kind', 'status', 'agentConnected', 'lastSeenAt']));
    });

  program
    .command('nodes')
    .description('nodes and GPUs as the agents report them')
    .option('--cluster <id>')
    .option('--json')
    .action(async (o: { cluster?: string; json?: boolean }) => {
      const r = await new HubClient().request<{ items: { clusterId: string; name: string; info: { gpuModel?: string; allocatable: { gpus: number }; gpus: { healthy: boolean; milliUsed: number }[]; ready: boolean; unschedulable: boolean } }[] }>(
        'GET',
        `/api/v1/nodes${o.cluster ? `?cluster=${encodeURIComponent(o.cluster)}` : ''}`,
      );
      print(r.items, Boolean(o.json), () =>
        table(
          r.items.map((n) => ({
            cluster: n.clusterId,
            node: n.name,
            model: n.info.gpuModel ?? '-',
            gpus: n.info.allocatable.gpus,
            used: n.info.gpus.filter((g) => g.milliUsed > 0).length,
            unhealthy: n.info.gpus.filter((g) => !g.healthy).length,
            status: !n.info.ready ? 'NotReady' : n.info.unschedulable ? 'Cordoned' : 'Ready',
          })),
          ['cluster', 'node', 'model', 'gpus', 'used', 'unhealthy', 'status'],
        ),
      );
    });
}
