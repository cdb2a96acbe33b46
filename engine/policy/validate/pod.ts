/** Pod (`v1`): the fields this engine models (spec.nodeName, spec.hostNetwork, status.podIP/podIPs/phase). */
import { canonicalIP } from '../ip.js';
import { POD_PHASES } from '../model.js';
import type { Pod, PodPhase } from '../model.js';
import { joinPath } from '../problems.js';
import type { Ctx } from '../problems.js';
import { decodeMeta, hasValue, ipFormatError } from './meta.js';

export function decodePod(ctx: Ctx, o: Record<string, unknown>, ignored: string[]): Pod | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: true, nameRule: 'subdomain' });
  if (!metadata) return undefined;
  const before = ctx.errorCount;
  const spec: Pod['spec'] = {};
  if (hasValue(o, 'spec')) {
    const s = ctx.map(o['spec'], 'spec');
    if (s) {
      ignored.push(...ctx.unknown(s, 'spec', ['nodeName', 'hostNetwork']));
      if (hasValue(s, 'nodeName') && s['nodeName'] !== '') {
        const n = ctx.str(s['nodeName'], 'spec.nodeName');
        if (n !== undefined) spec.nodeName = n;
      }
      if (hasValue(s, 'hostNetwork')) {
        const h = ctx.bool(s['hostNetwork'], 'spec.hostNetwork');
        if (h !== undefined) spec.hostNetwork = h;
      }
    }
  }
  const status: Pod['status'] = {};
  if (hasValue(o, 'status')) {
    const st = ctx.map(o['status'], 'status');
    if (st) {
      ignored.push(...ctx.unknown(st, 'status', ['podIP', 'podIPs', 'phase']));
      if (hasValue(st, 'phase') && st['phase'] !== '') {
        const ph = ctx.str(st['phase'], 'status.phase');
        if (ph !== undefined && !(POD_PHASES as readonly string[]).includes(ph))
          ctx.error(
            'status.phase',
            `Unsupported value: "${ph}": supported values: ${POD_PHASES.map((x) => `"${x}"`).join(', ')}`,
          );
        else if (ph !== undefined) status.phase = ph as PodPhase;
      }
      if (hasValue(st, 'podIP') && st['podIP'] !== '') {
        const ip = ctx.str(st['podIP'], 'status.podIP');
        if (ip !== undefined && ipFormatError(ctx, ip, 'status.podIP', 'an IP address')) status.podIP = ip;
      }
      if (hasValue(st, 'podIPs')) {
        const l = ctx.list(st['podIPs'], 'status.podIPs');
        const ips: { ip: string }[] = [];
        l?.forEach((item, i) => {
          const p = joinPath('status.podIPs', i);
          const m = ctx.map(item, p);
          if (!m) return;
          ctx.known(m, p, ['ip']);
          if (!ctx.required(m, 'ip', p)) return;
          const ip = ctx.str(m['ip'], joinPath(p, 'ip'));
          if (ip !== undefined && ipFormatError(ctx, ip, joinPath(p, 'ip'), 'an IP address')) ips.push({ ip });
        });
        if (status.podIP !== undefined && ips.length > 0 && canonicalIP(ips[0]!.ip) !== canonicalIP(status.podIP))
          ctx.error('status.podIPs', `Invalid value: "${ips[0]!.ip}": must match status.podIP ("${status.podIP}")`);
        // Kubernetes ValidatePodStatusUpdate (validatePodIPs): dual-stack means one address of each family.
        if (ips.filter((x) => x.ip.includes(':')).length > 1 || ips.filter((x) => !x.ip.includes(':')).length > 1)
          ctx.error(
            'status.podIPs',
            `Invalid value: "${ips.map((x) => x.ip).join(', ')}": may specify no more than one IP for each IP family`,
          );
        status.podIPs = ips;
      }
    }
  }
  if (ctx.errorCount !== before) return undefined;
  return { apiVersion: 'v1', kind: 'Pod', metadata: metadata as Pod['metadata'], spec, status };
}
