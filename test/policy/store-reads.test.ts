/**
 * Issue 11, finding 2 (store side): every read of the state directory is validated. A corrupt or semantically
 * invalid objects.json, a bad Node status file or events line never throws anything but a one-line StoreError from
 * a command's read, and never reaches the control plane: an agent keeps its last good state, and each problem is
 * reported and counted once (StoreHealth).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeRunner } from '../../engine/agent/node-runner.js';
import { cluster, io, policy, Slab } from '../../engine/index.js';
import { T0, at, mustApply } from './helpers.js';

const { store } = policy;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of store files, edited freely by the tests
type Json = any;
const REF = join(import.meta.dirname, '../../examples/reference/cluster.yaml');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egr-reads-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function reference(): policy.ClusterState {
  const parsed = policy.parseManifests(readFileSync(REF, 'utf8'), REF);
  return mustApply(
    policy.emptyState(),
    parsed.docs.map((d) => d.value),
  );
}

/** objects.json of the reference scenario, as JSON to edit. */
function snapshotJSON(): { objects: Array<Record<string, Json>>; [k: string]: unknown } {
  store.saveState(dir, reference(), T0);
  return JSON.parse(readFileSync(join(dir, 'objects.json'), 'utf8'));
}

const nodesOf = (snap: Record<string, Json>): Array<Record<string, Json>> =>
  snap['objects'].filter((o: Record<string, unknown>) => o['kind'] === 'Node');

/** What loadState throws for this objects.json content: the message, or null when it loads. */
function loadError(content: unknown): string | null {
  writeFileSync(join(dir, 'objects.json'), typeof content === 'string' ? content : JSON.stringify(content));
  try {
    store.loadState(dir);
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(store.StoreError);
    const m = (e as Error).message;
    expect(m).not.toContain('\n');
    return m;
  }
}

describe('objects.json is validated like `egress apply` validates a manifest set', () => {
  it('two Nodes sharing a transport IP (valid JSON): refused with the rule apply uses, in one line', () => {
    const snap = snapshotJSON();
    const [a, b] = nodesOf(snap);
    b!['status'] = structuredClone(a!['status']);
    expect(loadError(snap)).toBe(
      `${join(dir, 'objects.json')} is not a valid store snapshot: objects[${snap.objects.indexOf(b!)}] (Node/${b!['metadata']['name']}) status.addresses: InternalIP 198.18.0.11 is also the transport IP of Node node-a; move it aside and apply the manifests again`,
    );
  });

  it('wrong types and nulls anywhere are refused, never a TypeError', () => {
    const mutations: Array<[string, (s: Record<string, Json>) => void, RegExp]> = [
      ['objects null', (s) => (s['objects'] = null), /objects must be an array/],
      ['an object null', (s) => (s['objects'][3] = null), /objects\[3\] a manifest document must be a mapping/],
      ['metadata null', (s) => (s['objects'][3]['metadata'] = null), /objects\[3\].*metadata: Required value/],
      ['labels a list', (s) => (nodesOf(s)[0]!['metadata']['labels'] = []), /metadata\.labels: Invalid value/],
      ['uid a number', (s) => (s['objects'][2]['metadata']['uid'] = 7), /metadata\.uid: Invalid value: 7/],
      ['generation 0', (s) => (s['objects'][2]['metadata']['generation'] = 0), /metadata\.generation/],
      ['bad creation time', (s) => (s['objects'][2]['metadata']['creationTimestamp'] = 'x'), /not a time/],
      ['addresses null', (s) => (nodesOf(s)[0]!['status']['addresses'] = null), /status\.addresses/],
      [
        'egress status conditions null entry',
        (s) => (s['objects'].find((o: Json) => o.kind === 'Egress')['status']['conditions'] = [null]),
        /status\.conditions\[0\]: Invalid value: null: must be an object/,
      ],
      [
        'pool usage negative',
        (s) => (s['objects'].find((o: Json) => o.kind === 'ExternalIPPool')['status']['usage']['used'] = -1),
        /status\.usage/,
      ],
      ['controller allocations null', (s) => (s['controller']['allocations'] = [null]), /controller\.allocations\[0\]/],
      ['controller ip', (s) => (s['controller']['allocations'][0]['ip'] = 'x'), /not an IP address/],
      ['generation -1', (s) => (s['generation'] = -1), /generation must be a whole number/],
      ['an object twice', (s) => s['objects'].push(structuredClone(nodesOf(s)[0])), /is stored twice/],
      [
        'a pod on a Node that is not there',
        (s) => (s['objects'].find((o: Json) => o.kind === 'Pod')['spec']['nodeName'] = 'node-x'),
        /spec\.nodeName/,
      ],
    ];
    for (const [what, mutate, re] of mutations) {
      const snap = snapshotJSON();
      mutate(snap);
      expect(loadError(snap), what).toMatch(re);
    }
    expect(loadError('{"kind": "StoreSnapshot", ')).toMatch(/objects\.json is not valid JSON/);
    expect(loadError('null')).toMatch(/not a StoreSnapshot/);
  });

  it('a reader with a SnapshotCache refuses the same files: one changed object is checked again, with the set', () => {
    const cache = new store.SnapshotCache();
    const snap = snapshotJSON();
    expect(store.loadState(dir, { cache }).generation).toBe(snap['generation']);
    const cases: Array<[(s: Record<string, Json>) => void, RegExp]> = [
      [
        (s) => (s['objects'].find((o: Json) => o.kind === 'Egress').spec.egressIP = '198.18.0.9'),
        /spec\.egressIP: IP 198\.18\.0\.9 is not within the IP range/,
      ],
      [(s) => (nodesOf(s)[1]!['status'] = nodesOf(s)[0]!['status']), /is also the transport IP of Node node-a/],
      [
        (s) =>
          (s['objects'].find((o: Json) => o.kind === 'ExternalIPPool').spec.ipRanges = [{ cidr: '198.18.0.0/24' }]),
        /\(ExternalHost\/showip\) spec\.address: 198\.18\.0\.100 is inside ExternalIPPool egress-pool/,
      ],
    ];
    for (const [mutate, re] of cases) {
      const m = structuredClone(snap);
      mutate(m);
      writeFileSync(join(dir, 'objects.json'), JSON.stringify(m));
      expect(() => store.loadState(dir, { cache })).toThrow(re);
      expect(() => store.loadState(dir)).toThrow(re);
    }
    writeFileSync(join(dir, 'objects.json'), JSON.stringify(snap));
    expect(policy.toSnapshot(store.loadState(dir, { cache }), T0)).toEqual(policy.toSnapshot(reference(), T0));
  });

  it('a valid snapshot round-trips unchanged (the stored form passes the checks it was built under)', () => {
    const s = reference();
    store.saveState(dir, s, T0);
    expect(policy.toSnapshot(store.loadState(dir), T0)).toEqual(policy.toSnapshot(s, T0));
  });
});

function statusFiles(s: policy.ClusterState): policy.NodeStatusFile[] {
  const sim = new policy.ClusterSim(s);
  sim.settle(at(1));
  return [...sim.files().values()];
}

describe('Node status files and events lines are validated', () => {
  it('{"egresses":{"x":null}} from one Node: skipped and reported once; the merge of the others works', () => {
    const s = reference();
    store.saveState(dir, s, T0);
    const files = statusFiles(s);
    for (const f of files) store.writeNodeStatus(dir, f);
    const a = files.find((f) => f.node === 'node-a')!;
    const bad = { ...a, egresses: { 'egress-prod-web': null } };
    writeFileSync(join(dir, 'status', 'node-a.json'), JSON.stringify(bad));
    const seen: policy.store.StoreProblem[] = [];
    const health = new store.StoreHealth((p) => seen.push(p));
    // Without the check, mergeStatus threw "Cannot read properties of null (reading 'uid')".
    const read = store.readNodeStatuses(dir, { health });
    expect(() => policy.mergeStatus(s, read)).not.toThrow();
    // The agent keeps node-a's last good file when it had read one; a fresh reader skips it.
    expect(read.map((f) => f.node)).toEqual(['node-b', 'node-c']);
    expect(seen).toEqual([
      {
        kind: 'status',
        file: join(dir, 'status', 'node-a.json'),
        message: `${join(dir, 'status', 'node-a.json')} is not a valid Node status: egresses[egress-prod-web]: Invalid value: null: must be an object`,
      },
    ]);
    for (let i = 0; i < 5; i++) store.readNodeStatuses(dir, { health });
    expect(health.snapshot().problems.status).toBe(1);
  });

  it('an agent that read a good status file keeps it while the file is bad, and takes the next good one', () => {
    const s = reference();
    const files = statusFiles(s);
    for (const f of files) store.writeNodeStatus(dir, f);
    const health = new store.StoreHealth();
    const before = store.readNodeStatuses(dir, { health });
    expect(before).toHaveLength(3);
    for (const junk of ['{"kind":"NodeStatus"', '[]', '{"kind":"NodeStatus","node":"node-b"}', 'null'])
      writeFileSync(join(dir, 'status', 'node-b.json'), junk);
    expect(store.readNodeStatuses(dir, { health })).toEqual(before);
    const next = { ...files[1]!, observedGeneration: files[1]!.observedGeneration + 1 };
    store.writeNodeStatus(dir, next);
    expect(store.readNodeStatuses(dir, { health })[1]).toEqual(next);
    expect(health.snapshot().current).toEqual({});
  });

  it('invalid status files of every shape are skipped, never thrown', () => {
    const s = reference();
    const f = statusFiles(s).find((x) => Object.keys(x.egresses).length > 0);
    const entry = Object.values(f!.egresses)[0]!;
    store.ensureStore(dir);
    const shapes: unknown[] = [
      null,
      7,
      'x',
      [],
      { ...f, kind: 'Other' },
      { ...f, node: 'node-b' }, // another Node's name in node-a.json
      { ...f, egresses: null },
      { ...f, egresses: JSON.parse(`{"__proto__": ${JSON.stringify(entry)}}`) },
      { ...f, egresses: { e: { ...entry, conditions: null } } },
      { ...f, egresses: { e: { ...entry, conditions: [{ type: 'IPAssigned' }] } } },
      { ...f, egresses: { e: { ...entry, updatedAt: 'yesterday' } } },
      { ...f, hosted: [1] },
      { ...f, observedGeneration: '3' },
    ];
    for (const v of shapes) {
      writeFileSync(join(dir, 'status', `${f!.node}.json`), JSON.stringify(v));
      const r = store.readNodeStatuses(dir);
      expect(r, JSON.stringify(v)).toEqual([]);
    }
  });

  it('events.jsonl: lines that are not events are skipped and reported as one problem', () => {
    const ev = policy.assignedEvent('e', '198.18.0.241', 'node0', T0.toISOString());
    store.appendEvents(dir, [ev]);
    writeFileSync(join(dir, 'events.jsonl'), 'null\n{"time":1}\n[]\n', { flag: 'a' });
    store.appendEvents(dir, [ev]);
    const seen: string[] = [];
    const health = new store.StoreHealth((p) => seen.push(p.message));
    expect(store.readEvents(dir, { health })).toEqual([ev, ev]);
    expect(seen).toEqual([`3 invalid lines skipped (line 2: not an object)`]);
  });
});

describe('agents', () => {
  it('a Node agent starts and syncs while another Node has written {"egresses":{"x":null}}', () => {
    const s = reference();
    store.saveState(dir, s, T0);
    for (const f of statusFiles(s)) store.writeNodeStatus(dir, f);
    writeFileSync(
      join(dir, 'status', 'node-c.json'),
      JSON.stringify({ ...statusFiles(s)[2], egresses: { 'egress-prod-web': null } }),
    );
    const health = new store.StoreHealth();
    const slab = new Slab({ slots: 256 });
    const runner = new NodeRunner({
      name: 'node-a',
      state: store.loadState(dir),
      slab,
      uplink: new io.MemoryPort({ name: 'uplink', slab }),
      key: cluster.makeKey(new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff)),
      incarnation: 1,
      now: 0,
      status: {
        files: () => store.readNodeStatuses(dir, { health }),
        write: (f) => store.writeNodeStatus(dir, f),
        events: (ev) => store.appendEvents(dir, ev),
      },
      pods: { open: (p) => new io.MemoryPort({ name: p.key, slab }), close: (_k, p) => p.close() },
    });
    for (let t = 0; t <= 2000; t += 10) runner.tick(t);
    runner.setState(store.loadState(dir), 2000);
    expect(health.snapshot().problems.status).toBe(1);
    expect(runner.agent.view.node).not.toBeNull();
  });

  it('watchStore keeps the last good state through corrupt and invalid objects.json, reporting each problem once', async () => {
    const s = reference();
    store.saveState(dir, s, T0);
    const good = readFileSync(join(dir, 'objects.json'), 'utf8');
    const seen: number[] = [];
    const errors: string[] = [];
    const health = new store.StoreHealth();
    const w = store.watchStore(dir, (st) => seen.push(st.generation), {
      intervalMs: 10,
      health,
      onError: (e) => errors.push(e.message),
    });
    try {
      await waitFor(() => seen.length === 1);
      const dup = JSON.parse(good);
      const nodes = nodesOf(dup);
      nodes[1]!['status'] = nodes[0]!['status'];
      dup.generation += 1;
      for (let i = 0; i < 3; i++) {
        // Rewritten (new inode, same problem): still one report.
        store.atomicWrite(join(dir, 'objects.json'), JSON.stringify(dup));
        await sleepMs(40);
      }
      store.atomicWrite(join(dir, 'objects.json'), '{"kind":');
      await sleepMs(40);
      expect(seen).toEqual([s.generation]);
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(/InternalIP 198\.18\.0\.11 is also the transport IP of Node node-a/);
      expect(errors[1]).toMatch(/is not valid JSON/);
      expect(health.snapshot().problems.objects).toBe(2);
      // A good file again: taken, the standing problem cleared.
      const next = JSON.parse(good);
      next.generation += 2;
      store.atomicWrite(join(dir, 'objects.json'), JSON.stringify(next));
      await waitFor(() => seen.length === 2);
      expect(seen).toEqual([s.generation, s.generation + 2]);
      expect(health.snapshot().current).toEqual({});
    } finally {
      w.close();
    }
  });
});

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await sleepMs(5);
  }
}
