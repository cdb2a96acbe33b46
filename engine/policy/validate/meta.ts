/**
 * The pieces every kind shares: ObjectMeta (the API server's name, namespace, label and annotation rules) and
 * LabelSelector (`metav1.ValidateLabelSelector`), plus small readers the kind decoders use.
 */
import { parseIP } from '../ip.js';
import type { IP } from '../ip.js';
import type { LabelSelector, LabelSelectorRequirement, ObjectMeta } from '../model.js';
import { joinPath } from '../problems.js';
import type { Ctx } from '../problems.js';
import {
  OPERATORS,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  qualifiedNameErrors,
} from '../selector.js';

/** ObjectMeta fields kubectl's strict decoding accepts. */
const META_FIELDS = [
  'name',
  'namespace',
  'labels',
  'annotations',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink',
];

export function decodeMeta(
  ctx: Ctx,
  v: unknown,
  opts: { namespaced: boolean; nameRule: 'subdomain' | 'label'; optionalName?: string },
): ObjectMeta | undefined {
  if (v === undefined || v === null) {
    if (opts.optionalName !== undefined) return meta(opts.optionalName, undefined, {}, {});
    ctx.error('metadata', 'Required value');
    return undefined;
  }
  const m = ctx.map(v, 'metadata');
  if (!m) return undefined;
  ctx.known(m, 'metadata', META_FIELDS);
  let name: string | undefined;
  if (m['name'] === undefined || m['name'] === null || m['name'] === '') {
    if (opts.optionalName !== undefined) name = opts.optionalName;
    else ctx.error('metadata.name', 'Required value: name or generateName is required');
  } else {
    name = ctx.str(m['name'], 'metadata.name');
    if (name !== undefined) {
      ctx.name = opts.namespaced ? `${namespaceOf(m)}/${name}` : name;
      const errs = opts.nameRule === 'label' ? dns1123LabelErrors(name) : dns1123SubdomainErrors(name);
      for (const e of errs) ctx.error('metadata.name', `Invalid value: "${name}": ${e}`);
    }
  }
  let namespace: string | undefined;
  if (opts.namespaced) {
    namespace = 'default';
    if (m['namespace'] !== undefined && m['namespace'] !== null && m['namespace'] !== '') {
      const ns = ctx.str(m['namespace'], 'metadata.namespace');
      if (ns !== undefined) {
        for (const e of dns1123LabelErrors(ns)) ctx.error('metadata.namespace', `Invalid value: "${ns}": ${e}`);
        namespace = ns;
      }
    }
  }
  const labels: Record<string, string> = {};
  if (m['labels'] !== undefined && m['labels'] !== null) {
    const l = ctx.strMap(m['labels'], 'metadata.labels');
    if (l) {
      for (const [k, val] of Object.entries(l)) {
        for (const e of qualifiedNameErrors(k)) ctx.error('metadata.labels', `Invalid value: "${k}": ${e}`);
        for (const e of labelValueErrors(val))
          ctx.error(joinPath('metadata.labels', k), `Invalid value: "${val}": ${e}`);
        labels[k] = val;
      }
    }
  }
  const annotations: Record<string, string> = {};
  if (m['annotations'] !== undefined && m['annotations'] !== null) {
    const a = ctx.strMap(m['annotations'], 'metadata.annotations');
    if (a) {
      for (const [k, val] of Object.entries(a)) {
        for (const e of qualifiedNameErrors(k)) ctx.error('metadata.annotations', `Invalid value: "${k}": ${e}`);
        annotations[k] = val;
      }
    }
  }
  if (name === undefined) return undefined;
  return meta(name, namespace, labels, annotations);
}

export function meta(
  name: string,
  namespace: string | undefined,
  labels: Record<string, string>,
  annotations: Record<string, string>,
): ObjectMeta {
  const m: ObjectMeta = {
    name,
    labels,
    annotations,
    uid: '',
    creationTimestamp: '',
    generation: 0,
    resourceVersion: '',
  };
  if (namespace !== undefined) m.namespace = namespace;
  return m;
}

/** Decode a LabelSelector (CRD schema + `metav1.ValidateLabelSelector`). */
export function decodeSelector(ctx: Ctx, v: unknown, path: string): LabelSelector | undefined {
  const m = ctx.map(v, path);
  if (!m) return undefined;
  ctx.known(m, path, ['matchLabels', 'matchExpressions']);
  const sel: LabelSelector = {};
  let ok = true;
  if (m['matchLabels'] !== undefined && m['matchLabels'] !== null) {
    const lp = joinPath(path, 'matchLabels');
    const l = ctx.strMap(m['matchLabels'], lp);
    if (!l) ok = false;
    else {
      for (const [k, val] of Object.entries(l)) {
        for (const e of qualifiedNameErrors(k)) {
          ctx.error(lp, `Invalid value: "${k}": ${e}`);
          ok = false;
        }
        for (const e of labelValueErrors(val)) {
          ctx.error(joinPath(lp, k), `Invalid value: "${val}": ${e}`);
          ok = false;
        }
      }
      sel.matchLabels = l;
    }
  }
  if (m['matchExpressions'] !== undefined && m['matchExpressions'] !== null) {
    const ep = joinPath(path, 'matchExpressions');
    const l = ctx.list(m['matchExpressions'], ep);
    if (!l) ok = false;
    else {
      const reqs: LabelSelectorRequirement[] = [];
      l.forEach((item, i) => {
        const ip = joinPath(ep, i);
        const r = ctx.map(item, ip);
        if (!r) {
          ok = false;
          return;
        }
        ctx.known(r, ip, ['key', 'operator', 'values']);
        if (!ctx.required(r, 'key', ip) || !ctx.required(r, 'operator', ip)) {
          ok = false;
          return;
        }
        const key = ctx.str(r['key'], joinPath(ip, 'key'));
        const op = ctx.str(r['operator'], joinPath(ip, 'operator'));
        if (key === undefined || op === undefined) {
          ok = false;
          return;
        }
        for (const e of qualifiedNameErrors(key)) {
          ctx.error(joinPath(ip, 'key'), `Invalid value: "${key}": ${e}`);
          ok = false;
        }
        if (!(OPERATORS as readonly string[]).includes(op)) {
          ctx.error(
            joinPath(ip, 'operator'),
            `Unsupported value: "${op}": supported values: ${OPERATORS.map((o) => `"${o}"`).join(', ')}`,
          );
          ok = false;
          return;
        }
        let values: string[] | undefined;
        if (r['values'] !== undefined && r['values'] !== null) {
          values = ctx.strList(r['values'], joinPath(ip, 'values'));
          if (!values) {
            ok = false;
            return;
          }
          values.forEach((val, j) => {
            for (const e of labelValueErrors(val)) {
              ctx.error(joinPath(joinPath(ip, 'values'), j), `Invalid value: "${val}": ${e}`);
              ok = false;
            }
          });
        }
        if ((op === 'In' || op === 'NotIn') && (!values || values.length === 0)) {
          ctx.error(joinPath(ip, 'values'), "Required value: must be specified when `operator` is 'In' or 'NotIn'");
          ok = false;
        }
        if ((op === 'Exists' || op === 'DoesNotExist') && values && values.length > 0) {
          ctx.error(
            joinPath(ip, 'values'),
            "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
          );
          ok = false;
        }
        const req: LabelSelectorRequirement = { key, operator: op as LabelSelectorRequirement['operator'] };
        if (values && values.length > 0) req.values = values;
        reqs.push(req);
      });
      sel.matchExpressions = reqs;
    }
  }
  return ok ? sel : undefined;
}

export function ipFormatError(ctx: Ctx, v: string, path: string, what = 'an IPv4 or IPv6 address'): IP | undefined {
  const ip = parseIP(v);
  if (!ip) {
    ctx.error(path, `Invalid value: "${v}": must be ${what}`);
    return undefined;
  }
  return ip;
}

export function namespaceOf(m: Record<string, unknown>): string {
  return typeof m['namespace'] === 'string' && m['namespace'] !== '' ? m['namespace'] : 'default';
}

export const hasValue = (o: Record<string, unknown>, k: string) => o[k] !== undefined && o[k] !== null;
