/** Namespace (`v1`): name (a DNS label) and labels, plus the `kubernetes.io/metadata.name` label the API server sets. */
import { LABEL_NAMESPACE_NAME } from '../model.js';
import type { Namespace } from '../model.js';
import type { Ctx } from '../problems.js';
import { decodeMeta, hasValue } from './meta.js';

export function decodeNamespace(ctx: Ctx, o: Record<string, unknown>, ignored: string[]): Namespace | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: false, nameRule: 'label' });
  if (!metadata) return undefined;
  if (hasValue(o, 'spec')) ignored.push('spec');
  if (hasValue(o, 'status')) ignored.push('status');
  metadata.labels[LABEL_NAMESPACE_NAME] = metadata.name;
  return { apiVersion: 'v1', kind: 'Namespace', metadata };
}
