/**
 * A real etcd cluster for tests: N members of Debian's etcd-server (/usr/bin/etcd) on 127.0.0.1, random free ports,
 * a temp data directory each, removed by stop() (call it in afterAll; members are also killed on process exit).
 */
import { execFileSync, spawn } from 'node:child_process';
import { get as httpGet, request as httpRequest } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BIN = process.env['EGRESS_TEST_ETCD'] ?? '/usr/bin/etcd';
/** Why etcd tests are skipped, or null when they can run. */
export const ETCD_SKIP: string | null = existsSync(ETCD_BIN)
  ? null
  : `${ETCD_BIN} not found (install Debian's etcd-server)`;

/**
 * A TCP port free on 127.0.0.1 now, chosen at random below the kernel's ephemeral range (32768 and up by default),
 * so that no outgoing connection (etcd's own peer dialling, another test's client) can be handed it between this
 * check and the member's bind. Another test process can still pick the same port in that window: start() retries.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 64; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await canListen(port)) return port;
  }
  return listenAny();
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function listenAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
}

export interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  proc: ChildProcess | null;
  log: string;
}

/** Certificates made with openssl for a TLS cluster: a CA, the server's (for 127.0.0.1) and a client's. */
export interface EtcdCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh CA, a server certificate for IP 127.0.0.1 and a client certificate, in `dir`. */
export function makeCerts(dir: string): EtcdCerts {
  const f = (n: string) => join(dir, n);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=egr-test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  ]);
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=egr-test-${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    ]);
    writeFileSync(f(`${name}.ext`), ext + '\n');
    openssl([
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.crt`),
    ]);
  }
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
}

export class EtcdCluster {
  readonly members: Member[] = [];
  private root = '';
  private initial = '';
  /** Set for a TLS cluster (clients must present a certificate the CA signed). */
  certs: EtcdCerts | null = null;

  get url(): string {
    return `${this.certs ? 'etcds' : 'etcd'}://${this.members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}`;
  }

  /**
   * Start a new cluster of `size` members. A port taken between freePort() and a member's bind (a test in another
   * worker chose it too) shows as "address already in use": the attempt is torn down and made again on new ports.
   */
  static async start(size = 3, opts: { tls?: boolean } = {}): Promise<EtcdCluster> {
    for (let attempt = 1; ; attempt++) {
      const c = new EtcdCluster();
      c.root = mkdtempSync(join(tmpdir(), 'egr-etcd-'));
      if (opts.tls) c.certs = makeCerts(c.root);
      const ports = new Set<number>();
      const port = async (): Promise<number> => {
        for (;;) {
          const p = await freePort();
          if (ports.has(p)) continue;
          ports.add(p);
          return p;
        }
      };
      for (let i = 0; i < size; i++)
        c.members.push({ name: `m${i}`, clientPort: await port(), peerPort: await port(), proc: null, log: '' });
      c.initial = c.members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
      for (const m of c.members) c.spawn(m, 'new');
      try {
        await c.waitHealthy(30000, () => c.members.some((m) => m.log.includes('address already in use')));
        return c;
      } catch (e) {
        await c.stop();
        const raced = c.members.some((m) => m.log.includes('address already in use'));
        if (!raced || attempt >= 3) throw e;
      }
    }
  }

  private spawn(m: Member, state: 'new' | 'existing'): void {
    const client = `${this.certs ? 'https' : 'http'}://127.0.0.1:${m.clientPort}`;
    const tls = this.certs
      ? [
          `--cert-file=${this.certs.serverCert}`,
          `--key-file=${this.certs.serverKey}`,
          `--trusted-ca-file=${this.certs.ca}`,
          '--client-cert-auth',
        ]
      : [];
    const peer = `http://127.0.0.1:${m.peerPort}`;
    const p = spawn(
      ETCD_BIN,
      [
        `--name=${m.name}`,
        `--data-dir=${join(this.root, m.name)}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=${this.initial}`,
        `--initial-cluster-state=${state}`,
        '--initial-cluster-token=egr-test',
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--logger=zap',
        '--log-level=error',
        ...tls,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr?.on('data', (d: Buffer) => {
      m.log = (m.log + d.toString()).slice(-4000);
    });
    m.proc = p;
    process.once('exit', () => p.kill('SIGKILL'));
  }

  /** Every running member answers /health with true (or giveUp() says the wait is hopeless: the error then). */
  async waitHealthy(timeoutMs = 30000, giveUp: () => boolean = () => false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const up = this.members.filter((m) => m.proc);
      const ok = await Promise.all(up.map((m) => health(m.clientPort, this.certs)));
      if (ok.every(Boolean)) return;
      if (Date.now() > deadline || giveUp())
        throw new Error(`etcd not healthy in ${timeoutMs} ms: ${up.map((m) => `${m.name}: ${m.log}`).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL a member (its data stays, restart() brings it back). */
  async kill(i: number): Promise<void> {
    const m = this.members[i]!;
    const p = m.proc;
    m.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGKILL');
    });
  }

  async restart(i: number): Promise<void> {
    this.spawn(this.members[i]!, 'existing');
    await this.waitHealthy();
  }

  /** Start every stopped member again (all at once: one alone has no quorum). */
  async restartAll(): Promise<void> {
    for (const m of this.members) if (!m.proc) this.spawn(m, 'existing');
    await this.waitHealthy();
  }

  /** POST a v3 JSON-gateway request to member i (plain HTTP clusters); the parsed answer, or null if it gave none. */
  async post(i: number, path: string, body: unknown): Promise<Record<string, unknown> | null> {
    const m = this.members[i]!;
    if (!m.proc) return null;
    return postJSON(m.clientPort, path, body);
  }

  /**
   * The index of the member that is leader now, as the running members report it (maintenance/status: its own
   * member id and the leader's); null while they do not agree on one (an election).
   */
  async leader(): Promise<number | null> {
    const ids = new Map<string, number>();
    const leaders = new Set<string>();
    for (let i = 0; i < this.members.length; i++) {
      const r = await this.post(i, '/v3/maintenance/status', {});
      if (!r) continue;
      const header = r['header'] as Record<string, unknown> | undefined;
      ids.set(String(header?.['member_id']), i);
      if (r['leader'] !== undefined && String(r['leader']) !== '0') leaders.add(String(r['leader']));
    }
    if (leaders.size !== 1) return null;
    return ids.get([...leaders][0]!) ?? null;
  }

  /** Poll until the running members agree on a leader; its index. */
  async waitLeader(timeoutMs = 30000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = await this.leader();
      if (l !== null) return l;
      if (Date.now() > deadline) throw new Error(`no etcd leader in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    if (this.root) rmSync(this.root, { recursive: true, force: true });
  }
}

function health(port: number, certs: EtcdCerts | null): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = certs
      ? { ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) }
      : {};
    const req = (certs ? httpsGet : httpGet)(
      `${certs ? 'https' : 'http'}://127.0.0.1:${port}/health`,
      { ...opts, timeout: 1000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(/"health":\s*"true"/.test(body)));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

function postJSON(port: number, path: string, body: unknown): Promise<Record<string, unknown> | null> {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', timeout: 2000, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch {
            resolve(null);
          }
        });
        res.on('error', () => resolve(null));
      },
    );
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
    req.end(data);
  });
}
