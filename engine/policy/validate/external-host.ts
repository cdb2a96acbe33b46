/** ExternalHost (`egress-engine/v1alpha1`): a host on the segment for the test bed and replay (address, command). */
import { parseInterfaceAddress } from '../ip.js';
import { ENGINE_API } from '../model.js';
import type { ExternalHost } from '../model.js';
import type { Ctx } from '../problems.js';
import { decodeMeta, hasValue } from './meta.js';

export function decodeExternalHost(ctx: Ctx, o: Record<string, unknown>): ExternalHost | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: false, nameRule: 'subdomain' });
  if (!ctx.required(o, 'spec', '')) return undefined;
  const s = ctx.map(o['spec'], 'spec');
  if (!s || !metadata) return undefined;
  ctx.known(s, 'spec', ['address', 'ipv6Address', 'command']);
  const before = ctx.errorCount;
  let address: string | undefined;
  if (ctx.required(s, 'address', 'spec')) {
    address = ctx.str(s['address'], 'spec.address');
    if (address !== undefined) {
      const a = parseInterfaceAddress(address);
      if (!a || a.ip.family !== 4)
        ctx.error(
          'spec.address',
          `Invalid value: "${address}": must be an IPv4 address with its prefix (198.18.0.100/24)`,
        );
    }
  }
  let ipv6Address: string | undefined;
  if (hasValue(s, 'ipv6Address')) {
    ipv6Address = ctx.str(s['ipv6Address'], 'spec.ipv6Address');
    if (ipv6Address !== undefined) {
      const a = parseInterfaceAddress(ipv6Address);
      if (!a || a.ip.family !== 6)
        ctx.error(
          'spec.ipv6Address',
          `Invalid value: "${ipv6Address}": must be an IPv6 address with its prefix (2001:2::100/64)`,
        );
    }
  }
  let command: string[] | undefined;
  if (hasValue(s, 'command')) {
    command = ctx.strList(s['command'], 'spec.command');
    if (command && command.length === 0) ctx.error('spec.command', 'Invalid value: []: must not be empty when given');
  }
  if (ctx.errorCount !== before || address === undefined) return undefined;
  const spec: ExternalHost['spec'] = { address };
  if (ipv6Address !== undefined) spec.ipv6Address = ipv6Address;
  if (command) spec.command = command;
  return { apiVersion: ENGINE_API, kind: 'ExternalHost', metadata, spec };
}
