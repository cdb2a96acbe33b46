/**
 * The fixtures of captures/wire/ are what captures/gen/wire_fixtures.py makes: running the generator again
 * (scapy, into a temporary directory) gives byte-identical pcaps and sidecars. Catches a generator edited
 * without regenerating, or fixtures edited by hand.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasScapy, runScapyScript } from '../support/scapy.js';
import { FIXTURE_FILES, WIRE_DIR, load } from './fixtures.js';

const GEN = resolve(import.meta.dirname, '../../captures/gen/wire_fixtures.py');
if (!hasScapy()) console.log('fixtures.test: regeneration check SKIPPED — /usr/bin/python3 has no scapy');

describe('captures/wire fixtures', () => {
  it('every pcap listed has a sidecar and loads', () => {
    const files = readdirSync(WIRE_DIR).sort();
    for (const f of FIXTURE_FILES) {
      expect(files).toContain(f);
      expect(files).toContain(f.replace(/\.pcap$/, '.jsonl'));
      expect(load(f).length).toBeGreaterThan(0);
    }
    expect(files.filter((f) => f.endsWith('.pcap')).sort()).toEqual([...FIXTURE_FILES].sort());
    for (const f of files) expect(readFileSync(join(WIRE_DIR, f)).length).toBeLessThan(8192); // a few KB each
  });

  it.skipIf(!hasScapy())('regenerate byte-identically with captures/gen/wire_fixtures.py', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egr-wirefx-'));
    try {
      runScapyScript(GEN, ['--out', dir]);
      const made = readdirSync(dir).sort();
      expect(made).toEqual(readdirSync(WIRE_DIR).sort());
      for (const f of made) expect(readFileSync(join(dir, f)).equals(readFileSync(join(WIRE_DIR, f))), f).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
