/**
 * Kubernetes label selectors (`metav1.LabelSelector`) and label syntax, with the API server's semantics and wording.
 *
 * - `matchLabels` and every `matchExpressions` requirement are ANDed. An empty selector (`{}`) matches everything;
 *   an absent selector (null) matches nothing where the caller says so (appliedTo, see `appliedToMatches`).
 * - In: the key exists and its value is one of `values`. NotIn: the key is absent or its value is not one of
 *   `values`. Exists / DoesNotExist: the key is present / absent. In and NotIn need at least one value; Exists and
 *   DoesNotExist take none (`metav1.LabelSelectorAsSelector`).
 */
import type { AppliedTo, LabelSelector, Labels } from './model.js';

export const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type Operator = (typeof OPERATORS)[number];

const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const NAME_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric " +
  "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and " +
  "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is " +
  "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start " +
  "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end " +
  "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/** Problems with a qualified name (label or annotation key), as Kubernetes words them; empty when valid. */
export function qualifiedNameErrors(key: string): string[] {
  const errs: string[] = [];
  const parts = key.split('/');
  let name = key;
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    name = n;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...dns1123SubdomainErrors(prefix).map((m) => `prefix part ${m}`));
  } else if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. " +
        "'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length > 0 && !NAME_RE.test(name)) errs.push(NAME_MSG);
  return errs;
}

/** Problems with a label value; empty when valid. */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!VALUE_RE.test(value)) errs.push(VALUE_MSG);
  return errs;
}

/** Problems with an RFC 1123 subdomain (object names of most kinds); empty when valid. */
export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN_RE.test(value)) errs.push(SUBDOMAIN_MSG);
  return errs;
}

/** Problems with an RFC 1123 label (Namespace names); empty when valid. */
export function dns1123LabelErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1123_LABEL_RE.test(value)) errs.push(LABEL_MSG);
  return errs;
}

/** True when `labels` satisfy the selector (an empty selector matches everything). */
export function selectorMatches(sel: LabelSelector, labels: Labels): boolean {
  if (sel.matchLabels) {
    for (const [k, v] of Object.entries(sel.matchLabels)) {
      if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
    }
  }
  if (sel.matchExpressions) {
    for (const req of sel.matchExpressions) {
      const has = Object.hasOwn(labels, req.key);
      const values = req.values ?? [];
      switch (req.operator) {
        case 'In':
          if (!has || !values.includes(labels[req.key]!)) return false;
          break;
        case 'NotIn':
          if (has && values.includes(labels[req.key]!)) return false;
          break;
        case 'Exists':
          if (!has) return false;
          break;
        case 'DoesNotExist':
          if (has) return false;
          break;
        default:
          return false;
      }
    }
  }
  return true;
}

/** True for a selector with neither matchLabels nor matchExpressions entries. */
export function selectorIsEmpty(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/**
 * Whether an Egress's appliedTo selects a Pod with `podLabels` in a Namespace with `nsLabels`
 * (`NewGroupSelector("", podSelector, namespaceSelector, nil, nil)`): podSelector alone = matching Pods in every
 * Namespace; namespaceSelector alone = every Pod of matching Namespaces; both = AND; neither = nothing.
 */
export function appliedToMatches(appliedTo: AppliedTo, podLabels: Labels, nsLabels: Labels): boolean {
  const { podSelector, namespaceSelector } = appliedTo;
  if (!podSelector && !namespaceSelector) return false;
  if (podSelector && !selectorMatches(podSelector, podLabels)) return false;
  if (namespaceSelector && !selectorMatches(namespaceSelector, nsLabels)) return false;
  return true;
}

/** Kubernetes-style text of a selector (`app=web,tier in (a,b),!x`), for display. */
export function formatSelector(sel: LabelSelector | undefined): string {
  if (!sel) return '<none>';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const r of sel.matchExpressions ?? []) {
    const vs = (r.values ?? []).join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${vs})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${vs})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.length === 0 ? '<all>' : parts.join(',');
}
