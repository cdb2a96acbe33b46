/**
 * `egress apply --store etcd://…` from separate processes while the etcd leader is SIGKILLed (a real 3-member
 * cluster, test/support/etcd-cluster.ts; the leader found from the members' maintenance/status answers). Every
 * apply either reported success and its whole set (a Namespace and an Egress) is stored, or reported failure in one
 * line naming the endpoints and the cause and nothing of its set is stored; the allocated IPs stay unique. Skipped,
 * with the reason, without etcd.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { ETCD_SKIP, EtcdCluster } from '../support/etcd-cluster.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'egress.js');
let etcd: EtcdCluster;
let tmp: string;

interface Run {
  readonly i: number;
  readonly code: number;
  readonly out: string;
  readonly err: string;
  readonly startMs: number;
  readonly endMs: number;
}

const t0 = Date.now();
function egress(i: number, args: string[]): Promise<Run> {
  const startMs = Date.now() - t0;
  return new Promise((res) => {
    const c = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, EGRESS_STORE: '', EGRESS_STATE_DIR: join(tmp, 'unused') },
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) => res({ i, code: code ?? -1, out, err, startMs, endMs: Date.now() - t0 }));
  });
}

/** Namespace lk-i and Egress lk-i on pool `big`: one manifest set, one apply. */
function set(i: number): string {
  const f = join(tmp, `lk-${i}.yaml`);
  writeFileSync(
    f,
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lk-${i}\n---\napiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: lk-${i}\nspec:\n  appliedTo: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: lk-${i}}}}\n  externalIPPool: big\n`,
  );
  return f;
}

describe.skipIf(ETCD_SKIP !== null)(
  `egress apply while the etcd leader dies${ETCD_SKIP ? ` (skipped: ${ETCD_SKIP})` : ''}`,
  () => {
    beforeAll(async () => {
      etcd = await EtcdCluster.start(3);
      tmp = mkdtempSync(join(tmpdir(), 'egr-cli-leader-'));
    }, 60000);
    afterAll(async () => {
      await etcd?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('a stream of applies from 4 processes at a time, the leader SIGKILLed, then the quorum, then every member: each set whole or absent, as reported', async () => {
      const prefix = `/egr-leader-${process.pid}/`;
      const flags = ['--store', etcd.url, '--etcd-prefix', prefix];
      const pool = join(tmp, 'pool.yaml');
      writeFileSync(
        pool,
        'apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata:\n  name: big\nspec:\n  ipRanges:\n    - start: 198.18.0.100\n      end: 198.18.0.199\n  nodeSelector: {}\n',
      );
      const first = await egress(-1, ['apply', '-f', pool, ...flags]);
      expect(first.code, first.err).toBe(0);

      // the stream runs through four phases, each begun once so many applies have finished: the leader dies (the
      // other two elect another and go on); that leader dies too (no quorum: applies fail, or may be left in the
      // log of the last member); the last member dies (nothing listens: applies fail, nothing written); all back
      const total = 56;
      const workers = 4;
      const steps: [number, string, () => Promise<string>][] = [
        [8, 'leader gone', async () => etcd.members[await killLeader()]!.name],
        [20, 'no quorum', async () => etcd.members[await killLeader()]!.name],
        [26, 'all down', async () => etcd.members[await killRest()]!.name],
        [34, 'after', async () => (await etcd.restartAll(), 'all restarted')],
      ];
      const killLeader = async () => {
        const l = await etcd.waitLeader();
        await etcd.kill(l);
        return l;
      };
      const killRest = async () => {
        const l = etcd.members.findIndex((m) => m.proc);
        await etcd.kill(l);
        return l;
      };
      let next = 0;
      let done = 0;
      const runs: Run[] = [];
      const marks: { phase: string; what: string; atMs: number; afterDone: number }[] = [];
      let chain: Promise<void> = Promise.resolve();
      const worker = async () => {
        for (;;) {
          const i = next++;
          if (i >= total) return;
          runs.push(await egress(i, ['apply', '-f', set(i), ...flags]));
          done++;
          const step = steps.find(([after]) => after === done);
          if (step)
            chain = chain.then(async () => {
              const atMs = Date.now() - t0;
              const afterDone = done;
              marks.push({ phase: step[1], what: await step[2](), atMs, afterDone });
            });
        }
      };
      await Promise.all(Array.from({ length: workers }, worker));
      await chain;
      expect(marks.map((m) => m.phase)).toEqual(steps.map((x) => x[1]));
      /** The phase an apply ran in from start to end, or 'across' when a step happened while it ran. */
      const phase = (r: Run) => {
        const bounds = [-Infinity, ...marks.map((m) => m.atMs), Infinity];
        const names = ['before', ...marks.map((m) => m.phase)];
        for (let k = 0; k < names.length; k++) if (r.startMs > bounds[k]! && r.endMs < bounds[k + 1]!) return names[k]!;
        return 'across';
      };

      // what is stored, read by another client
      const st = new policy.store.EtcdStore(etcd.url, { prefix });
      let state: policy.ClusterState;
      try {
        state = (await st.load()).state;
      } finally {
        st.close();
      }
      const has = (i: number) => [state.namespaces.has(`lk-${i}`), state.egresses.has(`lk-${i}`)];
      const ok = runs.filter((r) => r.code === 0);
      const failed = runs.filter((r) => r.code !== 0);
      const unsure = (r: Run) => /may still be applied: check with egress get$/.test(r.err.trim());
      for (const r of ok) {
        expect(r.err, `apply ${r.i} succeeded: nothing on stderr`).toBe('');
        expect(r.out.trim().split('\n').sort()).toEqual(
          expect.arrayContaining([
            expect.stringMatching(new RegExp(`^egress\\.crd\\.antrea\\.io/lk-${r.i} (created|unchanged)$`)),
            expect.stringMatching(new RegExp(`^namespace/lk-${r.i} (created|unchanged)$`)),
          ]),
        );
        expect(has(r.i), `apply ${r.i} stored`).toEqual([true, true]);
      }
      for (const r of failed) {
        const lines = r.err.trim().split('\n');
        expect(lines, `apply ${r.i} failed in one line`).toHaveLength(1);
        expect(lines[0]).toMatch(
          /^egress apply: store etcd:\/\/127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+)*: etcd unreachable \(http:\/\/127\.0\.0\.1:\d+: .+\)/,
        );
        expect(r.code).toBe(1);
        // a transaction a member took without answering may be applied later, but never half of it
        if (unsure(r))
          expect(
            [
              [true, true],
              [false, false],
            ],
            `apply ${r.i}: whole or absent`,
          ).toContainEqual(has(r.i));
        else expect(has(r.i), `apply ${r.i} absent`).toEqual([false, false]);
      }
      // nothing stored that no apply could have written, no half set, allocations unique
      const maybe = new Set(failed.filter(unsure).map((r) => `lk-${r.i}`));
      const mine = [...state.egresses.values()].filter((e) => e.metadata.name.startsWith('lk-'));
      const stored = mine.map((e) => e.metadata.name).filter((n) => !maybe.has(n));
      expect(stored.sort()).toEqual(ok.map((r) => `lk-${r.i}`).sort());
      const ips = mine.map((e) => e.spec.egressIP ?? '');
      expect(ips.every((ip) => /^198\.18\.0\.1\d\d$/.test(ip))).toBe(true);
      expect(new Set(ips).size).toBe(ips.length);

      const byPhase = new Map<string, { ok: number; failed: number; unsure: number; maxMs: number }>();
      for (const r of runs) {
        const p = byPhase.get(phase(r)) ?? { ok: 0, failed: 0, unsure: 0, maxMs: 0 };
        if (r.code === 0) p.ok++;
        else if (unsure(r)) p.unsure++;
        else p.failed++;
        p.maxMs = Math.max(p.maxMs, r.endMs - r.startMs);
        byPhase.set(phase(r), p);
      }
      console.log(
        `${total} applies, ${workers} processes at a time; load ${loadavg()[0]!.toFixed(1)}\n` +
          marks.map((m) => `  ${m.atMs} ms, after ${m.afterDone} applies: ${m.phase} (${m.what})`).join('\n') +
          '\n' +
          [...byPhase]
            .map(
              ([p, v]) =>
                `  ${p}: ${v.ok} ok and stored, ${v.failed} failed and absent, ${v.unsure} failed "may still be applied"` +
                ` (${v.unsure ? `${[...maybe].filter((n) => state.egresses.has(n)).length} of all such stored` : '-'}), slowest ${v.maxMs} ms`,
            )
            .join('\n') +
          [...new Set(failed.map((r) => `\n  ${phase(r)}: ${r.err.trim().replace(/:\d{4,5}/g, ':PORT')}`))].join(''),
      );
      // the leader's death alone costs no apply; without a quorum applies fail; with nothing listening they fail
      // with nothing written; with the members back they succeed
      expect(byPhase.get('leader gone')?.ok ?? 0).toBeGreaterThan(0);
      expect(byPhase.get('leader gone')?.failed ?? 0).toBe(0);
      expect(byPhase.get('leader gone')?.unsure ?? 0).toBe(0);
      const nq = byPhase.get('no quorum');
      expect((nq?.failed ?? 0) + (nq?.unsure ?? 0)).toBeGreaterThan(0);
      expect(nq?.ok ?? 0).toBe(0);
      expect(byPhase.get('all down')?.failed ?? 0).toBeGreaterThan(0);
      expect([byPhase.get('all down')?.ok ?? 0, byPhase.get('all down')?.unsure ?? 0]).toEqual([0, 0]);
      expect(byPhase.get('after')?.failed ?? 0).toBe(0);
      expect(byPhase.get('after')?.ok ?? 0).toBeGreaterThan(0);
    }, 300000);
  },
);
