/**
 * The agent opens a dual-stack pod's port with its IPv6 address (docs/ipv6.md §4: the test bed puts it on the
 * pod's TUN), an IPv4-only pod's with none.
 */
import { describe, expect, it } from 'vitest';
import { macFor, NodeAgent } from '../../engine/agent/node-agent.js';
import { Slab } from '../../engine/index.js';
import * as policy from '../../engine/policy/index.js';
import { at, mustApply } from '../policy/helpers.js';
import { dualCluster } from '../policy/dual-stack.js';
import { ListPort } from '../support/list-port.js';

describe('pod ports of a dual-stack node', () => {
  it("the factory gets each local pod's IPv6 address (null for an IPv4-only pod)", () => {
    const s = mustApply(dualCluster(), [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'v4only', namespace: 'e2e', labels: { app: 'other' } },
        spec: { nodeName: 'node0' },
        status: { podIP: '10.10.0.9' },
      },
    ]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    const view = sim.view('node0')!;
    const opened: Array<[string, string | null]> = [];
    const agent = new NodeAgent({
      name: 'node0',
      slab: new Slab({ slots: 64 }),
      mac: macFor('node', view.node!.transportIp),
      uplink: new ListPort('uplink'),
      view,
      pods: {
        open: (pod, ip6) => {
          opened.push([pod.key, ip6]);
          return new ListPort(pod.key);
        },
        close: () => {},
      },
    });
    expect(opened.sort()).toEqual([
      ['e2e/v4only', null],
      ['e2e/web-0', '2001:2:0:100::5'],
    ]);
    agent.close();
  });
});
