/**
 * The node the stage tests run on (test/stages): node-a with its pods, peers and Egress IPs, as plain
 * NodeDatapathConfig data, and the MACs of the segment.
 */
import { EGRESS_LOCAL, EGRESS_NONE, EGRESS_REMOTE, type NodeDatapathConfig } from '../../engine/stages/index.js';
import { ethernet, ipv4 } from '../../engine/wire/index.js';

export const ip = (s: string): number => ipv4.parseAddr(s)!;
export const mac = (s: string) => ethernet.parseMac(s)!;

export const NODE_MAC = '02:00:00:00:00:0b';
export const HOST_MAC = '02:00:00:00:00:64';
export const PEER_MAC = '02:00:00:00:00:0c';
export const OTHER_MAC = '02:00:00:00:00:66';
/** The control port rows use for heartbeats (NodeStateOptions.controlPort). */
export const CONTROL_PORT = 10351;

/**
 * The node every row runs on unless it overrides fields: node-a 198.18.0.11 hosting Egress IP 198.18.0.253;
 * pods 10.244.1.5 (port 0, Egress here), .6 (port 1, no Egress), .7 (port 2, Egress 198.18.0.254 elsewhere);
 * node-b 198.18.0.12 with 10.244.2.0/24, node-c 198.18.0.13 with 10.244.3.0/24; service CIDR 10.96.0.0/12.
 */
export function baseConfig(): NodeDatapathConfig {
  return {
    nodeName: 'node-a',
    nodeIp: ip('198.18.0.11'),
    mac: mac(NODE_MAC),
    uplinkMtu: 1500,
    transport: { addr: ip('198.18.0.0'), len: 24 },
    gateway: 0,
    tunnelPort: 6081,
    podCidr: { addr: ip('10.244.1.0'), len: 24 },
    pods: [
      { key: 'prod/web-1', ip: ip('10.244.1.5'), port: 0, egress: EGRESS_LOCAL, egressIp: ip('198.18.0.253') },
      { key: 'default/other', ip: ip('10.244.1.6'), port: 1, egress: EGRESS_NONE, egressIp: 0 },
      { key: 'staging/web-2', ip: ip('10.244.1.7'), port: 2, egress: EGRESS_REMOTE, egressIp: ip('198.18.0.254') },
    ],
    nodes: [
      { name: 'node-a', ip: ip('198.18.0.11'), podCidr: { addr: ip('10.244.1.0'), len: 24 } },
      { name: 'node-b', ip: ip('198.18.0.12'), podCidr: { addr: ip('10.244.2.0'), len: 24 } },
      { name: 'node-c', ip: ip('198.18.0.13'), podCidr: { addr: ip('10.244.3.0'), len: 24 } },
    ],
    bypass: [{ addr: ip('10.96.0.0'), len: 12 }],
    egressIps: [ip('198.18.0.253')],
  };
}
