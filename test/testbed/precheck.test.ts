/**
 * The test bed's pre-check (`loadForTestbed`, no root needed: it changes nothing on the machine): namespace and
 * device names are `egr…` + a CRC-32 of a name, so two names with one CRC-32 would share a namespace or a link.
 * Such sets are refused, with both names, before anything is created. The colliding pairs were found by a small
 * search; Python's zlib confirms each collision independently of our CRC-32.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestbedError, loadForTestbed } from '../../tun/testbed/index.js';
import { pyCrc32 } from '../policy/python.js';

const FIXTURE = resolve(import.meta.dirname, 'fixtures', 'cluster.yaml');
const dir = mkdtempSync(join(tmpdir(), 'egr-precheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write the fixture after `edit` (which must change it) and run the pre-check on it. */
function precheck(edit: (y: string) => string): () => unknown {
  const original = readFileSync(FIXTURE, 'utf8');
  const text = edit(original);
  expect(text, 'the edit must change the manifests').not.toBe(original);
  const f = join(dir, `m${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(f, text);
  return () => loadForTestbed(f, new Date());
}

const crc = (s: string) => pyCrc32([s])[0]!.toString(16).padStart(8, '0');

describe('the test bed refuses names that would share a namespace or device', () => {
  it('the fixture itself passes', () => {
    expect(() => loadForTestbed(FIXTURE, new Date())).not.toThrow();
  });

  it('two ExternalHosts whose names have one CRC-32 (one namespace egr-h…)', () => {
    const [a, b] = ['host-tauv6rrz', 'host-vcamjp4w'];
    expect(crc(a)).toBe(crc(b));
    const run = precheck((y) =>
      y.replace('name: showip }', `name: ${a} }`).replace('name: internal }', `name: ${b} }`),
    );
    expect(run).toThrow(TestbedError);
    expect(run).toThrow(
      `ExternalHost ${a} and ExternalHost ${b} would share the network namespace egr-h${crc(a)} (the same CRC-32 of their names): rename one of them`,
    );
  });

  it('two Nodes whose names have one CRC-32 (one uplink egru… on the segment)', () => {
    const [a, b] = ['node-ow1416pb', 'node-zyq30f4a'];
    expect(crc(a)).toBe(crc(b));
    const run = precheck((y) =>
      y
        .replace('name: node-a,', `name: ${a},`)
        .replace('nodeName: node-a', `nodeName: ${a}`)
        .replace('name: node-b,', `name: ${b},`)
        .replace('nodeName: node-b', `nodeName: ${b}`),
    );
    expect(run).toThrow(
      `Node ${a} and Node ${b} would share the uplink egru${crc(a)} (the same CRC-32 of their names): rename one of them`,
    );
  });

  it('two Pods whose namespace/name have one CRC-32 (one namespace egr-…): refused by the manifest validation', () => {
    const [a, b] = ['web-o16ztj0g', 'web-yd5cous7'];
    expect(crc(`prod/${a}`)).toBe(crc(`prod/${b}`));
    const run = precheck((y) => y.replace('name: web-a,', `name: ${a},`).replace('name: web-b,', `name: ${b},`));
    expect(run).toThrow(
      `(Pod/prod/${b}) metadata.name: Pod prod/${b} would get the network namespace egr-${crc(`prod/${a}`)} of Pod prod/${a} (the same CRC-32 of namespace/name): rename one of them`,
    );
  });
});

describe('the test bed builds IPv6 only in 2001:2::/48 (RFC 5180) and fe80::/10', () => {
  const DUAL = resolve(import.meta.dirname, '..', '..', 'examples', 'dual-stack', 'cluster.yaml');
  /** The dual-stack example after `edit` (which must change it), pre-checked. */
  const dual = (edit: (y: string) => string) => {
    const original = readFileSync(DUAL, 'utf8');
    const text = edit(original);
    expect(text, 'the edit must change the manifests').not.toBe(original);
    const f = join(dir, `d${Math.random().toString(16).slice(2)}.yaml`);
    writeFileSync(f, text);
    return () => loadForTestbed(f, new Date());
  };

  it('the dual-stack example passes', () => {
    const { state } = loadForTestbed(DUAL, new Date());
    expect(state.externalHosts.get('showip')!.spec.ipv6Address).toBe('2001:2::100/64');
  });

  it.each([
    [
      'a Node IPv6 address',
      (y: string) => y.replace('address: 2001:2::12', 'address: 2001:db8::12'),
      /Node node-b: IPv6 address 2001:db8::12 is outside 2001:2::\/48/,
    ],
    [
      'an IPv6 pod CIDR',
      (y: string) => y.replaceAll('2001:2:0:3:', '2001:3:0:3:'),
      /Node node-c: IPv6 pod CIDR 2001:3:0:3::\/64 is outside/,
    ],
    [
      'the host',
      (y: string) => y.replace('ipv6Address: 2001:2::100/64', 'ipv6Address: 2001:db8::100/64'),
      /ExternalHost showip: ipv6Address 2001:db8::100\/64 is outside/,
    ],
    [
      'a pool',
      (y: string) => y.replace('start: 2001:2::fd', 'start: 2001:1::fd').replace('end: 2001:2::fe', 'end: 2001:1::fe'),
      /ExternalIPPool egress-pool-v6: range 2001:1::fd is outside/,
    ],
    [
      'transportCIDRv6',
      (y: string) =>
        y.replace('transportCIDR: 198.18.0.0/24', 'transportCIDR: 198.18.0.0/24\ntransportCIDRv6: 2001:db8::/64'),
      /AgentConfig: transportCIDRv6 2001:db8::\/64 is outside 2001:2::\/48/,
    ],
  ])('refuses %s outside', (_what, edit, message) => {
    const run = dual(edit);
    expect(run).toThrow(TestbedError);
    expect(run).toThrow(message);
  });

  // The segment has no IPv6 router: a host outside the prefix the agents take as on-link is unreachable over IPv6
  // (every packet to it uplink-out6.drop-no-route), refused before anything is built.
  const offLink = (y: string) => y.replace('ipv6Address: 2001:2::100/64', 'ipv6Address: 2001:2:0:ff::100/64');
  it("refuses a host outside the Nodes' /64 without transportCIDRv6 or defaultGatewayv6", () => {
    const run = dual(offLink);
    expect(run).toThrow(TestbedError);
    expect(run).toThrow(
      /ExternalHost showip: ipv6Address 2001:2:0:ff::100\/64 is outside the IPv6 segment 2001:2::\/64 Node node-a takes \(the \/64 of its IPv6 address\) and there is no defaultGatewayv6: its IPv6 packets to the host would be uplink-out6.drop-no-route/,
    );
  });

  it.each([
    ['transportCIDRv6 holding it', 'transportCIDRv6: 2001:2::/48'],
    ['a defaultGatewayv6', 'defaultGatewayv6: 2001:2::1'],
  ])('accepts that host with %s', (_what, line) => {
    const run = dual((y) =>
      offLink(y).replace('transportCIDR: 198.18.0.0/24', `transportCIDR: 198.18.0.0/24\n${line}`),
    );
    expect(run).not.toThrow();
  });

  it('refuses a host outside transportCIDRv6', () => {
    const run = dual((y) =>
      y.replace('transportCIDR: 198.18.0.0/24', 'transportCIDR: 198.18.0.0/24\ntransportCIDRv6: 2001:2:0:ff::/64'),
    );
    expect(run).toThrow(
      /ipv6Address 2001:2::100\/64 is outside the IPv6 segment 2001:2:0:ff::\/64 Node node-a takes \(transportCIDRv6\)/,
    );
  });
});
