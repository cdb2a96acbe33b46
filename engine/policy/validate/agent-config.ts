/**
 * The agent configuration, in either form: Antrea's `antrea-config` ConfigMap (`data["antrea-agent.conf"]`) or
 * this engine's AgentConfig kind. The fields themselves are decoded by config.ts.
 */
import { decodeAgentConfigFields, decodeEmbeddedConfig, AGENT_CONF_KEY } from '../config.js';
import { ENGINE_API } from '../model.js';
import type { AgentConfig, ConfigMap } from '../model.js';
import type { Ctx, Source } from '../problems.js';
import { decodeMeta, hasValue } from './meta.js';

export function decodeConfigMap(ctx: Ctx, o: Record<string, unknown>, source: Source): ConfigMap | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: true, nameRule: 'subdomain' });
  if (!metadata) return undefined;
  const before = ctx.errorCount;
  const data = hasValue(o, 'data') ? ctx.strMap(o['data'], 'data') : {};
  if (!data) return undefined;
  if (data[AGENT_CONF_KEY] === undefined) {
    ctx.error(
      'data',
      `Required value: only Antrea's antrea-config ConfigMap is understood: it needs data["${AGENT_CONF_KEY}"]`,
    );
    return undefined;
  }
  const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata as ConfigMap['metadata'], data };
  decodeEmbeddedConfig(ctx, cm, source);
  return ctx.errorCount === before ? cm : undefined;
}

export function decodeAgentConfig(ctx: Ctx, o: Record<string, unknown>): AgentConfig | undefined {
  const metadata = decodeMeta(ctx, o['metadata'], {
    namespaced: false,
    nameRule: 'subdomain',
    optionalName: 'default',
  });
  if (!metadata) return undefined;
  ctx.name = metadata.name;
  const before = ctx.errorCount;
  const fields = decodeAgentConfigFields(ctx, o, '', true);
  if (fields.transportCIDR === undefined && !ctx.problems.some((p) => p.path === 'transportCIDR'))
    ctx.error('transportCIDR', 'Required value: the IPv4 subnet of the L2 segment the Nodes share');
  if (ctx.errorCount !== before) return undefined;
  return { apiVersion: ENGINE_API, kind: 'AgentConfig', metadata, ...fields };
}
