// The Helm charts, installed for real with Helm into a Kubernetes control plane with KWOK nodes:
// schema errors name the field, and the rendered objects are accepted and become running pods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { prewarmConfig } from '@meridian/edge-agent/kubernetes/prewarm';
import { goBinary, repoRoot } from '../harness/engines.ts';
import { KubeCluster } from '../harness/kube/cluster.ts';
import { gpuPool } from '../harness/kube/nodes.ts';

const helmBin = goBinary('helm', 'helm');
const chart = (name: string) => join(repoRoot, 'charts', name);

describe('Helm charts', () => {
  let cluster: KubeCluster;
  const helm = (...args: string[]) => {
    const r = spawnSync(helmBin, [...args, '--kubeconfig', cluster.kubeconfigPath], {
      encoding: 'utf8',
      env: { ...process.env, HELM_CACHE_HOME: join(cluster.kubeconfigPath, '..', 'helm-cache'), HELM_CONFIG_HOME: join(cluster.kubeconfigPath, '..', 'helm-config') },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  beforeAll(async () => {
    cluster = await KubeCluster.start({
      name: 'charts',
      nodes: [
        ...gpuPool('gpu', 2, 8, 'NVIDIA-A100-SXM4-80GB', { labels: { 'nvidia.com/gpu.present': 'true' } }),
        // a GPU node tainted the way the GPU operator does (the collector tolerates it) and a CPU-only node (it must not land there)
        { name: 'gpu-tainted', gpus: 8, gpuModel: 'NVIDIA-A100-SXM4-80GB', labels: { 'nvidia.com/gpu.present': 'true' }, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] },
        { name: 'cpu-0', gpus: 0, gpuModel: 'none' },
      ],
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('lint both charts', () => {
    const hub = helm('lint', chart('hub'), '--set', 'database.url=postgres://meridian@db/meridian');
    expect(hub.out).toContain('1 chart(s) linted, 0 chart(s) failed');
    const agent = helm('lint', chart('edge-agent'), '--set', 'hub.url=https://hub.example', '--set', 'clusterId=us-east', '--set', 'credential.value=secret');
    expect(agent.out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('refuse bad values with the field named', () => {
    const noDb = helm('template', 'x', chart('hub'));
    expect(noDb.code).not.toBe(0);
    expect(noDb.out).toContain('database.url is required');
    const badReplicas = helm('template', 'x', chart('hub'), '--set', 'database.url=postgres://db/m', '--set', 'replicas=0');
    expect(badReplicas.code).not.toBe(0);
    expect(badReplicas.out).toMatch(/replicas.*(minimum|greater)/i);
    const badCluster = helm('template', 'x', chart('edge-agent'), '--set', 'hub.url=https://h', '--set', 'clusterId=US_East', '--set', 'credential.value=s');
    expect(badCluster.code).not.toBe(0);
    expect(badCluster.out).toContain('clusterId');
  });

  it('refuse bad collector and prewarm values with the field named', () => {
    const agent = (...set: string[]) =>
      helm('template', 'x', chart('edge-agent'), '--set', 'hub.url=https://h', '--set', 'clusterId=us-east', '--set', 'credential.value=s', ...set.flatMap((v) => ['--set', v]));
    const cases: [string, RegExp][] = [
      ['collector.enabled=yes', /\/collector\/enabled.*want boolean/],
      ['collector.port=70000', /\/collector\/port.*maximum/],
      ['collector.nodeSelecter.gpu=true', /\/collector.*additional properties 'nodeSelecter' not allowed/],
      ['collector.nodeSelector.gpu=1', /\/collector\/nodeSelector\/gpu.*want string/],
      ['collector.tolerations[0].operator=Maybe', /\/collector\/tolerations\/0\/operator.*'Exists', 'Equal'/],
      ['collector.nvml.hostPath=usr/lib', /\/collector\/nvml\/hostPath.*does not match pattern/],
      ['collector.resources.requests.memory=lots', /\/collector\/resources\/requests\/memory/],
      ['collector.image.pullPolicy=Sometimes', /\/collector\/image\/pullPolicy/],
      ['collector.gpuJobs=kubelet', /\/collector\/gpuJobs.*'pods', 'slurm', 'both', 'off'/],
      ['prewarm.maxSeconds=0', /\/prewarm\/maxSeconds.*exclusiveMinimum/],
      ['prewarm.pollMs=-5', /\/prewarm\/pollMs.*exclusiveMinimum/],
      ['prewarm.bytesPerSec=fast', /\/prewarm\/bytesPerSec.*want null or number/],
      ['prewarm.command=rclone', /\/prewarm\/command.*want array/],
      ['prewarm.imag=rclone/rclone', /\/prewarm.*additional properties 'imag' not allowed/],
    ];
    for (const [value, field] of cases) {
      const r = agent(value);
      expect(r.code, value).not.toBe(0);
      expect(r.out, value).toMatch(field);
    }
  });

  it('render the collector DaemonSet only when enabled, with the NVML mount only when a host path is given', () => {
    const base = ['--set', 'hub.url=https://h', '--set', 'clusterId=us-east', '--set', 'credential.value=s'];
    const off = helm('template', 'x', chart('edge-agent'), ...base, '--set', 'collector.enabled=false');
    expect(off.code, off.out).toBe(0);
    expect(off.out).not.toContain('kind: DaemonSet');
    const runtime = helm('template', 'x', chart('edge-agent'), ...base, '--set', 'collector.nvml.hostPath=', '--set', 'collector.runtimeClassName=nvidia');
    expect(runtime.code, runtime.out).toBe(0);
    expect(runtime.out).toContain('kind: DaemonSet');
    expect(runtime.out).toContain('runtimeClassName: "nvidia"');
    expect(runtime.out).not.toContain('--nvml-lib');
    expect(runtime.out).not.toContain('/host/nvml');
    // unset prewarm / gpuJobs values leave the agent's own defaults in force: no variable at all
    expect(runtime.out).not.toMatch(/MERIDIAN_PREWARM_|MERIDIAN_GPU_JOBS/);
  });

  it('install into a real control plane and their pods run', async () => {
    const prewarmCommand = ['rclone', 'copy', 's3:datasets/$(MERIDIAN_DATASET)', '/cache/$(MERIDIAN_DATASET)'];
    const hub = helm('install', 'mrd', chart('hub'), '--namespace', 'meridian', '--create-namespace', '--set', 'database.url=postgres://meridian@db/meridian', '--wait', '--timeout', '90s');
    expect(hub.code, hub.out).toBe(0);
    const agent = helm('install', 'mrd-agent', chart('edge-agent'), '--namespace', 'meridian', '--set', 'hub.url=http://mrd-hub:8080', '--set', 'clusterId=charts', '--set', 'credential.value=secret',
      '--set', 'prewarm.image=rclone/rclone:1.68', '--set-json', `prewarm.command=${JSON.stringify(prewarmCommand)}`, '--set-json', 'prewarm.bytesPerSec=2.5e8',
      '--set', 'prewarm.maxSeconds=600', '--set', 'prewarm.pollMs=500', '--set', 'collector.gpuJobs=both', '--wait', '--timeout', '90s');
    expect(agent.code, agent.out).toBe(0);
    const apps = cluster.kubeConfig().makeApiClient(k8s.AppsV1Api);
    const dep = await apps.readNamespacedDeployment({ name: 'mrd-hub', namespace: 'meridian' });
    expect(dep.status?.readyReplicas).toBe(2);
    const agentDep = await apps.readNamespacedDeployment({ name: 'mrd-agent-edge-agent', namespace: 'meridian' });
    expect(agentDep.status?.readyReplicas).toBe(1);
    const rbac = cluster.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
    const role = await rbac.readClusterRole({ name: 'mrd-agent-edge-agent' });
    expect(role.rules?.some((r) => r.resources?.includes('pods/eviction'))).toBe(true);

    // the collector DaemonSet: on every GPU node (tainted one included), not on the CPU node, ready (--wait)
    const ds = await apps.readNamespacedDaemonSet({ name: 'mrd-agent-edge-agent-collector', namespace: 'meridian' });
    expect(ds.status?.desiredNumberScheduled).toBe(3);
    expect(ds.status?.numberReady).toBe(3);
    const pods = await cluster.core().listNamespacedPod({ namespace: 'meridian', labelSelector: 'app.kubernetes.io/component=collector' });
    expect(pods.items.map((p) => p.spec?.nodeName).sort()).toEqual(['gpu-0', 'gpu-1', 'gpu-tainted']);
    const spec = ds.spec!.template.spec!;
    expect(spec.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(spec.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    const c = spec.containers[0]!;
    expect(c.args).toEqual([
      '--kind', 'collector',
      '--node-name', '$(NODE_NAME)',
      '--hub-url', 'http://mrd-hub:8080',
      '--cluster-id', 'charts',
      '--credential-file', '/etc/meridian/credential/MERIDIAN_CLUSTER_CREDENTIAL',
      '--listen', '0.0.0.0:9400',
      '--telemetry-wal', '/var/lib/meridian/telemetry',
      '--telemetry-interval', '1000',
      '--nvml-lib', '/host/nvml/libnvidia-ml.so.1',
    ]);
    expect(c.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    const mount = (name: string) => c.volumeMounts?.find((m) => m.name === name);
    const volume = (name: string) => spec.volumes?.find((v) => v.name === name);
    expect(mount('pod-resources')).toMatchObject({ mountPath: '/var/lib/kubelet/pod-resources', readOnly: true });
    expect(volume('pod-resources')?.hostPath?.path).toBe('/var/lib/kubelet/pod-resources');
    expect(mount('nvml')).toMatchObject({ mountPath: '/host/nvml', readOnly: true });
    expect(volume('nvml')?.hostPath?.path).toBe('/usr/lib/x86_64-linux-gnu');
    expect(mount('credential')).toMatchObject({ mountPath: '/etc/meridian/credential', readOnly: true });
    expect(volume('credential')?.secret?.secretName).toBe('mrd-agent-edge-agent');
    expect(volume('wal')?.hostPath).toMatchObject({ path: '/var/lib/meridian/collector-wal', type: 'DirectoryOrCreate' });
    expect(c.env).toContainEqual({ name: 'MERIDIAN_GPU_JOBS', value: 'both' });
    for (const p of pods.items) expect(p.spec?.containers[0]?.env).toContainEqual({ name: 'MERIDIAN_GPU_JOBS', value: 'both' });

    // the prewarm copy Job settings, on the running agent pod
    const agentPods = await cluster.core().listNamespacedPod({ namespace: 'meridian', labelSelector: 'app.kubernetes.io/name=meridian-edge-agent' });
    expect(agentPods.items).toHaveLength(1);
    const env = Object.fromEntries(agentPods.items[0]!.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    // $$( is Kubernetes' escape for a literal $( in an env value: the agent must get $(MERIDIAN_DATASET) as is,
    // for the copy Job's container to expand (undone here the way the kubelet does)
    expect(env.MERIDIAN_PREWARM_COMMAND).toContain('$$(MERIDIAN_DATASET)');
    const seen = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v?.replaceAll('$$(', () => '$(')]));
    expect(prewarmConfig(seen)).toEqual({ image: 'rclone/rclone:1.68', command: prewarmCommand, bytesPerSec: 2.5e8, maxSeconds: 600, pollMs: 500 });
    expect(env.MERIDIAN_GPU_JOBS).toBeUndefined();
    // the agent Deployment's selector must not take the collector's pods for its own
    expect(agentDep.spec?.selector.matchLabels?.['app.kubernetes.io/name']).not.toBe(ds.spec?.selector.matchLabels?.['app.kubernetes.io/name']);
  });

  it('every object of both charts passes a server-side dry run (admission and schema checks of the apiserver)', () => {
    const rendered = [
      helm('template', 'dry', chart('hub'), '--namespace', 'meridian', '--set', 'database.url=postgres://meridian@db/meridian'),
      helm('template', 'dry-agent', chart('edge-agent'), '--namespace', 'meridian', '--set', 'hub.url=https://h', '--set', 'clusterId=us-east', '--set', 'credential.value=s',
        '--set', 'hostNetwork=true', '--set', 'nodeSelector.kubernetes\\.io/os=linux', '--set', 'extraEnv[0].name=A', '--set', 'extraEnv[0].value=b'),
    ];
    for (const r of rendered) {
      expect(r.code, r.out).toBe(0);
      const kubectl = spawnSync(goBinary('kube', 'kubectl'), ['--kubeconfig', cluster.kubeconfigPath, 'apply', '--dry-run=server', '-f', '-'], { input: r.out, encoding: 'utf8' });
      expect(kubectl.status, `${kubectl.stdout}${kubectl.stderr}`).toBe(0);
      expect(kubectl.stdout).toMatch(/\(server dry run\)/);
    }
  });

  it('the hub\'s scrape token: a Secret kept across upgrades, given to the hub and to the ServiceMonitor', async () => {
    const base = ['--set', 'database.url=postgres://db/m'];
    const out = helm('template', 'x', chart('hub'), ...base, '--set', 'prometheus.serviceMonitor=true').out;
    expect(out).toMatch(/name: x-hub-metrics\n[\s\S]*?token: "[A-Za-z0-9]{48}"/);
    expect(out).toMatch(/name: MERIDIAN_METRICS_TOKEN\n\s+valueFrom: \{ secretKeyRef: \{ name: x-hub-metrics, key: token \} \}/);
    expect(out).toMatch(/kind: ServiceMonitor[\s\S]*authorization:\n\s+type: Bearer\n\s+credentials:\n\s+name: x-hub-metrics\n\s+key: token/);
    expect(out).toContain('{ name: MERIDIAN_METRICS_PROJECT_LABELS, value: "false" }');
    // annotation-based scraping cannot send the token
    expect(out).not.toMatch(/prometheus\.io\/scrape:/);
    expect(helm('template', 'x', chart('hub'), ...base).out).not.toContain('kind: ServiceMonitor');
    expect(helm('template', 'x', chart('hub'), ...base, '--set', 'metrics.token=given').out).toContain('token: "given"');
    const existing = helm('template', 'x', chart('hub'), ...base, '--set', 'metrics.existingSecret=mine').out;
    expect(existing).not.toContain('x-hub-metrics');
    expect(existing).toContain('secretKeyRef: { name: mine, key: token }');

    // installed (by the test above): the generated token survives an upgrade, which Prometheus keeps scraping with
    const read = async () => Buffer.from((await cluster.core().readNamespacedSecret({ name: 'mrd-hub-metrics', namespace: 'meridian' })).data!.token!, 'base64').toString();
    const before = await read();
    expect(before).toMatch(/^[A-Za-z0-9]{48}$/);
    const up = helm('upgrade', 'mrd', chart('hub'), '--namespace', 'meridian', '--reuse-values');
    expect(up.code, up.out).toBe(0);
    expect(await read()).toBe(before);
  });
});
