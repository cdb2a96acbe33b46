/**
 * Antrea's docs/egress.md examples load unchanged (fixtures/antrea-docs-egress, copied verbatim) and give what the
 * page says: the HA example's `kubectl get egress` shows 10.10.0.11 and 10.10.0.12, the static example's Egress
 * Nodes are the Nodes whose IPs they use.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { T0, applyFiles, errorLines, mustApply, node, warningLines } from './helpers.js';

const DIR = join(import.meta.dirname, 'fixtures', 'antrea-docs-egress');
const f = (name: string) => join(DIR, name);

describe("Antrea's docs/egress.md examples", () => {
  it('the fixtures are the YAML blocks, unchanged (spot checks of their text)', () => {
    expect(readFileSync(f('02-egress.yaml'), 'utf8')).toContain(
      'egressIP: 10.10.0.8 # can be populated by Antrea after assigning an IP from the pool below',
    );
    expect(readFileSync(f('06-ha-externalippool.yaml'), 'utf8')).toContain(
      'nodeSelector: {}     # All Nodes can be Egress Nodes',
    );
  });

  it('the antrea-config ConfigMap configures the agents (Egress gate on)', () => {
    const r = applyFiles(policy.emptyState(), [f('01-configmap.yaml')]);
    expect(errorLines(r)).toEqual([]);
    const cfg = policy.resolveConfig(r.state.config);
    expect(cfg.egressEnabled).toBe(true);
    expect(cfg.source).toBe('ConfigMap/kube-system/antrea-config');
    expect(cfg.maxEgressIPsPerNode).toBe(255);
    expect(cfg.tunnelPort).toBe(6081);
  });

  it('the typical Egress loads with its pool; its pinned IP is allocated; the manifest status is ignored', () => {
    const r = applyFiles(policy.emptyState(), [f('04-externalippool.yaml'), f('02-egress.yaml')]);
    expect(errorLines(r)).toEqual([]);
    const e = r.state.egresses.get('egress-prod-web')!;
    expect(e.spec.egressIP).toBe('10.10.0.8');
    expect(e.status.egressNode).toBe(''); // status: egressNode: node01 in the manifest is not taken
    expect(e.status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['IPAllocated', 'True', 'Allocated'],
    ]);
    expect(r.state.pools.get('prod-external-ip-pool')!.status.usage).toEqual({ total: 9 + 14, used: 1 });
  });

  it('the typical Egress alone is rejected like Antrea rejects it (its pool does not exist)', () => {
    const r = applyFiles(policy.emptyState(), [f('02-egress.yaml')]);
    expect(errorLines(r)).toEqual([
      `${f('02-egress.yaml')}:14: document 1 (Egress/egress-prod-web) spec.externalIPPool: ExternalIPPool prod-external-ip-pool does not exist`,
    ]);
  });

  it('the bandwidth example (static Egress) loads', () => {
    const r = applyFiles(policy.emptyState(), [f('03-egress-bandwidth.yaml')]);
    expect(errorLines(r)).toEqual([]);
    expect(r.state.egresses.get('egress-prod-web')!.spec.bandwidth).toEqual({ rate: '800M', burst: '2G' });
    expect(warningLines(r).join('\n')).toContain('static egressIP 10.10.0.8 is on no Node');
    expect(warningLines(r).join('\n')).toContain(
      'spec.bandwidth: ignored: feature gate EgressTrafficShaping is disabled',
    );
  });

  it('the subnetInfo pool loads', () => {
    const r = applyFiles(policy.emptyState(), [f('05-externalippool-subnetinfo.yaml')]);
    expect(errorLines(r)).toEqual([]);
    expect(r.state.pools.get('prod-external-ip-pool')!.spec.subnetInfo).toEqual({
      gateway: '10.10.0.1',
      prefixLength: 24,
      vlan: 10,
    });
  });

  it('the HA example gives 10.10.0.11 and 10.10.0.12 as `kubectl get egress` shows', () => {
    let s = mustApply(policy.emptyState(), [node('node-4', '10.10.0.4'), node('node-6', '10.10.0.6')]);
    const r = applyFiles(s, [f('06-ha-externalippool.yaml'), f('07-ha-egresses.yaml')]);
    expect(errorLines(r)).toEqual([]);
    s = r.state;
    const st = policy.predictStatus(s, T0);
    expect(st.get('egress-prod-web')!.egressIP).toBe('10.10.0.11');
    expect(st.get('egress-staging-web')!.egressIP).toBe('10.10.0.12');
    expect(['node-4', 'node-6']).toContain(st.get('egress-prod-web')!.egressNode);
  });

  it('the static example: each IP is discovered on the Node that has it', () => {
    const s = mustApply(policy.emptyState(), [node('node-4', '10.10.0.104'), node('node-5', '10.10.0.105')]);
    const r = applyFiles(s, [f('08-static-egresses.yaml')]);
    expect(errorLines(r)).toEqual([]);
    expect(warningLines(r)).toEqual([]);
    const st = policy.predictStatus(r.state, T0);
    expect(st.get('egress-prod')).toEqual({ egressNode: 'node-4', egressIP: '10.10.0.104' });
    expect(st.get('egress-staging')).toEqual({ egressNode: 'node-5', egressIP: '10.10.0.105' });
  });

  it('every block applies together except the conflicting variants, which are rejected with Antrea messages', () => {
    // 04 and 05 define the same pool with different ranges: as an update, removing a range is denied.
    let s = applyFiles(policy.emptyState(), [f('04-externalippool.yaml')]).state;
    const r = applyFiles(s, [f('05-externalippool-subnetinfo.yaml')]);
    expect(errorLines(r)).toEqual([
      `${f('05-externalippool-subnetinfo.yaml')}:6: document 1 (ExternalIPPool/prod-external-ip-pool) spec.ipRanges: existing IPRanges [10.10.1.0/28] cannot be updated or deleted`,
    ]);
    // 06 overlaps nothing of 04: both pools can live together with all Egresses.
    s = applyFiles(s, [f('06-ha-externalippool.yaml'), f('07-ha-egresses.yaml'), f('01-configmap.yaml')]).state;
    expect([...s.egresses.keys()].sort()).toEqual(['egress-prod-web', 'egress-staging-web']);
  });
});
