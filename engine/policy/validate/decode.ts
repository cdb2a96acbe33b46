/**
 * One document → one typed object: apiVersion and kind looked up, then the kind's decoder (the CRD schema and the
 * API server's object rules). Cross-object rules and Antrea's webhooks run later, on the whole set (state.ts).
 */
import type { ManifestDoc } from '../manifest.js';
import { ANTREA_API, ANTREA_API_V1ALPHA2, ENGINE_API } from '../model.js';
import type { AnyObject, Kind } from '../model.js';
import { Ctx, show } from '../problems.js';
import type { Problem, Source } from '../problems.js';
import { decodeAgentConfig, decodeConfigMap } from './agent-config.js';
import { decodeEgress } from './egress.js';
import { decodeExternalHost } from './external-host.js';
import { decodePool } from './external-ip-pool.js';
import { namespaceOf } from './meta.js';
import { decodeNamespace } from './namespace.js';
import { decodeNode } from './node.js';
import { decodePod } from './pod.js';

/** apiVersion → kinds accepted under it. */
const KINDS_BY_API: Record<string, readonly Kind[]> = {
  [ANTREA_API]: ['Egress', 'ExternalIPPool'],
  [ANTREA_API_V1ALPHA2]: ['Egress', 'ExternalIPPool'],
  v1: ['Node', 'Namespace', 'Pod', 'ConfigMap'],
  [ENGINE_API]: ['AgentConfig', 'ExternalHost'],
};

/** A decoded document: the object, where it came from, and its problems' context. */
export interface Decoded {
  readonly object: AnyObject;
  readonly source: Source;
  /** Fields of v1 kinds that we do not model and dropped. */
  readonly ignored: readonly string[];
}

/**
 * Decode one document into an object (schema and object rules only). Problems are appended; returns null when the
 * document has errors.
 */
export function decodeDoc(doc: ManifestDoc, problems: Problem[]): Decoded | null {
  const ctx = new Ctx(problems, doc);
  const o = ctx.isMap(doc.value) ? doc.value : undefined;
  if (!o) {
    ctx.error(
      '',
      `a manifest document must be a mapping (got ${Array.isArray(doc.value) ? 'a sequence' : show(doc.value)})`,
    );
    return null;
  }
  const before = ctx.errorCount;
  const apiVersion = o['apiVersion'];
  const kind = o['kind'];
  const name = ctx.isMap(o['metadata']) ? o['metadata']['name'] : undefined;
  if (typeof kind === 'string') ctx.kind = kind;
  if (typeof name === 'string') ctx.name = name;
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    ctx.error('apiVersion', 'Required value');
    return null;
  }
  if (typeof kind !== 'string' || kind === '') {
    ctx.error('kind', 'Required value');
    return null;
  }
  const kinds = KINDS_BY_API[apiVersion];
  if (!kinds || !kinds.includes(kind as Kind)) {
    ctx.error('kind', `no matches for kind "${kind}" in version "${apiVersion}"`);
    return null;
  }
  if (typeof name === 'string' && (kind === 'Pod' || kind === 'ConfigMap'))
    ctx.name = `${namespaceOf(o['metadata'] as Record<string, unknown>)}/${name}`;
  const ignored: string[] = [];
  let object: AnyObject | undefined;
  switch (kind as Kind) {
    case 'Egress':
      object = decodeEgress(ctx, o, apiVersion);
      break;
    case 'ExternalIPPool':
      object = decodePool(ctx, o, apiVersion);
      break;
    case 'Node':
      object = decodeNode(ctx, o, ignored);
      break;
    case 'Namespace':
      object = decodeNamespace(ctx, o, ignored);
      break;
    case 'Pod':
      object = decodePod(ctx, o, ignored);
      break;
    case 'ConfigMap':
      object = decodeConfigMap(ctx, o, doc);
      break;
    case 'AgentConfig':
      object = decodeAgentConfig(ctx, o);
      break;
    case 'ExternalHost':
      object = decodeExternalHost(ctx, o);
      break;
  }
  if (!object || ctx.errorCount !== before) return null;
  if (apiVersion === ANTREA_API_V1ALPHA2)
    ctx.warn('apiVersion', `${ANTREA_API_V1ALPHA2} is deprecated; stored as ${ANTREA_API}`);
  if (ignored.length > 0) ctx.warn('', `ignoring fields this engine does not model: ${ignored.join(', ')}`);
  return { object, source: doc, ignored };
}
