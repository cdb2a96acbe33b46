/** Kind names on the command line (`egress get`, `egress delete`): kubectl's plurals and short names. */
import * as policy from '../engine/policy/index.js';
import { UsageError } from './errors.js';

/** Names accepted for each kind on the command line (kubectl's plurals and short names). */
export const KIND_ALIASES: Readonly<Record<string, policy.Kind>> = {
  egress: 'Egress',
  egresses: 'Egress',
  eg: 'Egress',
  externalippool: 'ExternalIPPool',
  externalippools: 'ExternalIPPool',
  eip: 'ExternalIPPool',
  node: 'Node',
  nodes: 'Node',
  no: 'Node',
  namespace: 'Namespace',
  namespaces: 'Namespace',
  ns: 'Namespace',
  pod: 'Pod',
  pods: 'Pod',
  po: 'Pod',
  externalhost: 'ExternalHost',
  externalhosts: 'ExternalHost',
  agentconfig: 'AgentConfig',
  agentconfigs: 'AgentConfig',
  configmap: 'ConfigMap',
  configmaps: 'ConfigMap',
  cm: 'ConfigMap',
};

export function kindOf(word: string): policy.Kind {
  const k = KIND_ALIASES[word.toLowerCase().replace(/\.crd\.antrea\.io$|\.egress-engine$/, '')];
  if (!k) throw new UsageError(`unknown resource type "${word}"`);
  return k;
}
