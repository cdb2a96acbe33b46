/**
 * `egress agent --workers 2` on real devices (root): one agent whose uplink TAP and pod TUN have two queues, a
 * datapath worker thread on queue 1 beside the main thread on queue 0. 200 UDP flows from a pod to an external
 * host (a namespace on the segment, a Python echo that answers with the address and port it saw) are node-SNATed
 * and every reply of every round comes back to its pod socket unchanged: both workers SNAT (ports of both
 * parities, the partition of docs/agent.md "Workers"), both see traffic, replies steered to the wrong worker are
 * handed over (answers that come after the driver forgot the flow's queue), and the counters of the run file are
 * the sum. Then the same over IPv6 (the node dual-stack, the pod with an IPv6 address too, SNAT66 to the node's
 * IPv6 address): every reply back, both workers' SNAT66 ports, late answers handed over, and the external host
 * resolved with NDP by whichever worker sends first while its Neighbor Advertisements land on one queue (the
 * neighbour sharing of docs/agent.md "Workers"). Run under `flock /tmp/egr-root.lock`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonAvailable, netdev } from '../../tun/index.js';
import { PYTHON } from '../support/scapy.js';
import { AgentBed, isRoot, podNs, ROOT, sh, until } from './helpers.js';

const SEG_NS = 'egr-wk-seg';
const BRIDGE = 'egrwkbr';
const EXT_NS = 'egr-wk-ext';
const EXT_IP = '198.18.0.100';
const EXT_IP6 = '2001:2::100';
const POD = 'dev/wk-a';
const POD_IP = '198.19.1.41';
const POD_IP6 = '2001:2:0:1::41';

/** The dual-stack example's configuration and Nodes (IPv6 segment 2001:2::/64) and one dev pod of both families. */
function dualStackWithDevPod(): string {
  const text = readFileSync(join(ROOT, 'examples', 'dual-stack', 'cluster.yaml'), 'utf8');
  const head = text.slice(0, text.indexOf('---\napiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool'));
  return (
    head +
    `---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: wk-a\n  namespace: dev\nspec:\n  nodeName: node-a\n` +
    `status:\n  podIP: ${POD_IP}\n  podIPs:\n    - ip: ${POD_IP}\n    - ip: ${POD_IP6}\n`
  );
}
const FLOWS = 200;
const ROUNDS = 5;
const skip = !isRoot || !addonAvailable();

/**
 * Seconds a `late` datagram waits for its answer: longer than the tun driver keeps a flow's queue (3 s,
 * TUN_FLOW_EXPIRE), so the answer is steered by its hash alone and about half of them reach the other worker.
 */
const LATE_S = 4.5;
/**
 * Answers every datagram with itself, `|`, and the source address and port it came from; `late …` ones after
 * LATE_S seconds.
 */
const ECHO = `import socket, sys, time
v6 = sys.argv[1:] == ['6']
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
if v6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(('::' if v6 else '0.0.0.0', 7777)); s.settimeout(0.1)
late = []; idle = time.time() + 60
while time.time() < idle:
    try:
        d, a = s.recvfrom(2048); idle = time.time() + 60
        if d.startswith(b'late'):
            late.append((time.time() + ${LATE_S}, d, a))
        else:
            s.sendto(d + b'|%s:%d' % (a[0].encode(), a[1]), a)
    except socket.timeout:
        pass
    while late and late[0][0] <= time.time():
        _, d, a = late.pop(0); s.sendto(d + b'|%s:%d' % (a[0].encode(), a[1]), a)`;

/** A warm-up datagram, then FLOWS sockets, ROUNDS rounds of one datagram each; prints JSON {ok, bad, ports: {flow: seen source}}. */
const CLIENT = `import socket, select, json, sys, time
n, rounds, dst = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
fam = socket.AF_INET6 if ':' in dst else socket.AF_INET; any_ = '::' if ':' in dst else '0.0.0.0'
socks = []
for i in range(n):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((any_, 0)); s.setblocking(False); socks.append(s)
# Warm-up: one datagram until answered, so the node has resolved the host (ARP) before the flows start.
w = socket.socket(fam, socket.SOCK_DGRAM); w.settimeout(0.3)
for _ in range(20):
    w.sendto(b'warm', (dst, 7777))
    try:
        w.recv(2048); break
    except socket.timeout:
        pass
time.sleep(0.2)
ok = 0; bad = 0; seen = {}
for r in range(rounds):
    want = {}
    for i, s in enumerate(socks):
        m = b'flow %d round %d' % (i, r); want[s.fileno()] = (i, m); s.sendto(m, (dst, 7777))
    end = time.time() + 5
    while want and time.time() < end:
        rd, _, _ = select.select(socks, [], [], 0.5)
        for s in rd:
            d = s.recv(2048)
            i, m = want.get(s.fileno(), (None, None))
            if m is not None and d.startswith(m + b'|'):
                ok += 1; seen[i] = d[len(m) + 1:].decode(); del want[s.fileno()]
            else:
                bad += 1
# Late answers: each socket sends one datagram and waits for an answer that comes after LATE_S s.
want = {}
for i, s in enumerate(socks):
    m = b'late %d' % i; want[s.fileno()] = m; s.sendto(m, (dst, 7777))
late = 0; end = time.time() + ${LATE_S} + 6
while want and time.time() < end:
    rd, _, _ = select.select(socks, [], [], 0.5)
    for s in rd:
        d = s.recv(2048); m = want.get(s.fileno())
        if m is not None and d.startswith(m + b'|'):
            late += 1; del want[s.fileno()]
        else:
            bad += 1
print(json.dumps({'ok': ok, 'bad': bad, 'seen': seen, 'late': late}))`;

describe.skipIf(skip)('egress agent --workers 2', () => {
  const bed = new AgentBed(SEG_NS, BRIDGE, 'egr-wk-');
  beforeAll(async () => {
    await bed.setUp(dualStackWithDevPod());
    netdev.deleteNetns(EXT_NS, { ifExists: true });
    netdev.addNetns(EXT_NS);
    netdev.addVeth('egrwkx0', 'egrwkx1', { netns: SEG_NS, peerNetns: EXT_NS });
    netdev.setMaster('egrwkx0', BRIDGE, { netns: SEG_NS });
    netdev.setUp('egrwkx0', { netns: SEG_NS });
    netdev.addAddress('egrwkx1', `${EXT_IP}/24`, { netns: EXT_NS });
    netdev.addAddress('egrwkx1', `${EXT_IP6}/64`, { netns: EXT_NS, nodad: true });
    netdev.setUp('egrwkx1', { netns: EXT_NS });
    netdev.setUp('lo', { netns: EXT_NS });
  }, 900_000);
  afterAll(async () => {
    await bed.tearDown();
    netdev.deleteNetns(EXT_NS, { ifExists: true });
  });

  it('200 UDP flows from a pod: every reply of every round un-NATed back to its socket, both workers used', async () => {
    bed.start('node-a', ['--workers', '2']);
    await until(() => bed.up('node-a', ['node-a']), `agent up (logs: ${bed.allLogs()})`, 60_000);
    await until(() => bed.run('node-a')?.workers?.[1]?.running === true, `worker 1 reports (${bed.allLogs()})`);
    // Two queues on each device.
    const q = sh('ip', ['netns', 'exec', podNs(POD), 'ls', '/sys/class/net/eth0/queues']).stdout;
    expect(q.split(/\s+/).filter((x) => x.startsWith('tx-')).length, q).toBe(2);
    const server = spawn('ip', ['netns', 'exec', EXT_NS, PYTHON, '-c', ECHO], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 700));
      const r = sh(
        'ip',
        ['netns', 'exec', podNs(POD), PYTHON, '-c', CLIENT, String(FLOWS), String(ROUNDS), EXT_IP],
        120_000,
      );
      const out = JSON.parse(r.stdout || '{}') as {
        ok: number;
        bad: number;
        late: number;
        seen: Record<string, string>;
      };
      const drops = () => {
        const x = bed.run('node-a');
        const d: Record<string, number> = {};
        for (const [st, v] of Object.entries((x?.stages ?? {}) as Record<string, { counters: Record<string, number> }>))
          for (const [k, n] of Object.entries(v.counters))
            if (n > 0 && (k.startsWith('drop') || st === 'steer')) d[`${st}.${k}`] = n;
        return JSON.stringify({ d, workers: x?.workers });
      };
      expect(out.ok, `${r.stderr} ${drops()} ${bed.allLogs()}`).toBe(FLOWS * ROUNDS);
      expect(out.bad).toBe(0);
      expect(out.late, `late answers ${drops()}`).toBe(FLOWS);
      const seen = Object.values(out.seen);
      expect(seen.length).toBe(FLOWS);
      // Node SNAT: the external host sees the node IP; ports of both workers' partitions.
      expect(new Set(seen.map((s) => s.split(':')[0]))).toEqual(new Set(['198.18.0.11']));
      const parity = new Set(seen.map((s) => Number(s.split(':')[1]) % 2));
      expect(parity).toEqual(new Set([0, 1]));
    } finally {
      server.kill();
    }
    // The run file: both workers moved packets and hold connections; the sums cover every reply.
    const run = await until(() => {
      const x = bed.run('node-a');
      return x && (x.stages?.unsnat?.counters?.reply ?? 0) >= FLOWS * (ROUNDS + 1) ? x : null;
    }, 'summed counters');
    const w = run.workers as Array<{ index: number; packets: number; conntrack: number }>;
    expect(w.map((x) => x.index)).toEqual([0, 1]);
    for (const x of w) {
      expect(x.packets, `worker ${x.index} packets`).toBeGreaterThan(0);
      expect(x.conntrack, `worker ${x.index} connections`).toBeGreaterThan(0);
    }
    expect(run.conntrack.size).toBe(w[0]!.conntrack + w[1]!.conntrack);
    expect(run.stages.unsnat.counters['drop-no-conntrack'] ?? 0).toBe(0);
    // The late answers the device steered to the other worker were handed over (and only those: steer counts).
    const handed = run.stages.steer.counters['handed-off'] ?? 0;
    console.log(
      `workers: handed off ${handed} of ${FLOWS} late answers; packets ${run.workers.map((x: { packets: number }) => x.packets).join(' / ')}`,
    );
    expect(handed, JSON.stringify(run.workers)).toBeGreaterThan(0);
    expect(handed).toBeLessThanOrEqual(FLOWS);
    const hx = (run.workers as Array<{ handoff: Record<string, number> }>).map((x) => x.handoff);
    expect(hx[0]!.tx! + hx[1]!.tx!).toBe(handed);
    expect(hx[0]!.rx! + hx[1]!.rx!).toBe(handed);
    await bed.stop('node-a');
    expect(bed.agents.get('node-a')!.exitCode, bed.logs.get('node-a')).toBe(0);
    const left = netdev.listLinks({ netns: SEG_NS }).filter((l) => !['lo', BRIDGE, 'egrwkx0'].includes(l.ifname));
    expect(left.map((l) => l.ifname)).toEqual([]);
  }, 240_000);

  it('the same over IPv6: SNAT66 replies back to every socket, both partitions, late answers handed over, NDP shared', async () => {
    bed.start('node-a', ['--workers', '2']);
    await until(() => bed.up('node-a', ['node-a']), `agent up (logs: ${bed.allLogs()})`, 60_000);
    await until(() => bed.run('node-a')?.workers?.[1]?.running === true, `worker 1 reports (${bed.allLogs()})`);
    const server = spawn('ip', ['netns', 'exec', EXT_NS, PYTHON, '-c', ECHO, '6'], { stdio: 'ignore' });
    const counters = () => {
      const x = bed.run('node-a');
      const d: Record<string, number> = {};
      for (const [st, v] of Object.entries((x?.stages ?? {}) as Record<string, { counters: Record<string, number> }>))
        for (const [k, n] of Object.entries(v.counters))
          if (n > 0 && (k.startsWith('drop') || st === 'steer' || st === 'ndp')) d[`${st}.${k}`] = n;
      return JSON.stringify({ d, workers: x?.workers });
    };
    try {
      await new Promise((r) => setTimeout(r, 700));
      const r = sh(
        'ip',
        ['netns', 'exec', podNs(POD), PYTHON, '-c', CLIENT, String(FLOWS), String(ROUNDS), EXT_IP6],
        120_000,
      );
      const out = JSON.parse(r.stdout || '{}') as {
        ok: number;
        bad: number;
        late: number;
        seen: Record<string, string>;
      };
      expect(out.ok, `${r.stderr} ${counters()} ${bed.allLogs()}`).toBe(FLOWS * ROUNDS);
      expect(out.bad).toBe(0);
      expect(out.late, `late answers ${counters()}`).toBe(FLOWS);
      const seen = Object.values(out.seen).map((x) => {
        const k = x.lastIndexOf(':');
        return [x.slice(0, k), Number(x.slice(k + 1))] as const;
      });
      expect(seen.length).toBe(FLOWS);
      // SNAT66 to the node's IPv6 address (the dev pod has no Egress), ports of both workers' partitions.
      expect(new Set(seen.map(([a]) => a))).toEqual(new Set(['2001:2::11']));
      expect(new Set(seen.map(([, p]) => p % 2))).toEqual(new Set([0, 1]));
    } finally {
      server.kill();
    }
    const run = await until(() => {
      const x = bed.run('node-a');
      return x && (x.stages?.unsnat6?.counters?.['un-snat'] ?? 0) >= FLOWS * (ROUNDS + 1) ? x : null;
    }, `summed counters ${counters()}`);
    const c = (st: string, k: string): number => run.stages?.[st]?.counters?.[k] ?? 0;
    expect(c('unsnat6', 'drop-no-connection'), counters()).toBe(0);
    expect(c('uplink-out6', 'drop-ndp-timeout'), counters()).toBe(0);
    const handed = c('steer', 'handed-off6');
    console.log(`workers IPv6: handed off ${handed} of ${FLOWS} late answers; ndp ${counters()}`);
    expect(handed, counters()).toBeGreaterThan(0);
    expect(handed).toBeLessThanOrEqual(FLOWS);
    expect(c('steer', 'handed-off')).toBe(0);
    await bed.stop('node-a');
    expect(bed.agents.get('node-a')!.exitCode, bed.logs.get('node-a')).toBe(0);
  }, 240_000);
});
