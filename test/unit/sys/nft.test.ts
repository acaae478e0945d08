import { describe, expect, it } from 'vitest';
import { drops, rulesByTable } from '../../../src/sys/nft.js';

// The shape `nft -j list ruleset` prints (nftables 1.0): metainfo, then tables, chains and rules.
const ruleset = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'overlay-nat', handle: 1 } },
    { chain: { family: 'ip', table: 'overlay-nat', name: 'post', handle: 1 } },
    { rule: { family: 'ip', table: 'overlay-nat', chain: 'post', handle: 2, expr: [{ masquerade: null }] } },
    { table: { family: 'bridge', name: 'overlay-isolation', handle: 2 } },
    { chain: { family: 'bridge', table: 'overlay-isolation', name: 'forward', handle: 1 } },
    {
      rule: {
        family: 'bridge',
        table: 'overlay-isolation',
        chain: 'forward',
        handle: 4,
        expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'ovl1' } }, { drop: null }],
      },
    },
    { table: { family: 'inet', name: 'empty', handle: 3 } },
  ],
});

describe('the ruleset by table', () => {
  it('gives each table its own rules, under its family and name', () => {
    const t = rulesByTable(ruleset);
    expect([...t.keys()]).toEqual(['ip overlay-nat', 'bridge overlay-isolation', 'inet empty']);
    expect(t.get('bridge overlay-isolation')!.map((r) => r.chain)).toEqual(['forward']);
    expect(t.get('inet empty')).toEqual([]);
  });

  it('tells a drop verdict from any other', () => {
    const t = rulesByTable(ruleset);
    expect(t.get('bridge overlay-isolation')!.filter(drops)).toHaveLength(1);
    expect(t.get('ip overlay-nat')!.filter(drops)).toHaveLength(0);
  });

  it('reads an empty ruleset as no tables', () => {
    expect(rulesByTable(JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } }] })).size).toBe(0);
  });
});
