// Starts the real `edge-agent` process for a Kubernetes cluster: used by the end-to-end tests and the sandbox.
import { AgentProcess, type AgentSpec } from './agent-process.ts';

export interface KubeAgentSpec extends AgentSpec {
  kubeconfigPath: string;
  namespace?: string;
}

export class KubeAgentProcess extends AgentProcess<KubeAgentSpec> {
  protected kindArgs(): string[] {
    return ['--kubeconfig', this.spec.kubeconfigPath, '--namespace', this.spec.namespace ?? 'meridian-jobs'];
  }

  protected env(): NodeJS.ProcessEnv {
    return { ...process.env, KUBECONFIG: '' };
  }
}
