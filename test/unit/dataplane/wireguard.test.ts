import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEndpointRecord } from '../../../src/dataplane/endpoints.js';
import { rulesByTable } from '../../../src/sys/nft.js';
import { guardIntact, guardRules, inSubnets, isTrustedPair, isWireguardKey, loadOrCreateKey, publicKeyOf } from '../../../src/dataplane/wireguard.js';

describe('WireGuard data plane, the pure parts', () => {
  it('derives the public key as WireGuard does (RFC 7748 X25519 test vector)', () => {
    const alicePriv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64');
    const alicePub = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex').toString('base64');
    expect(publicKeyOf(alicePriv)).toBe(alicePub);
  });

  it('makes a key once, mode 0600, and reads the same one back; refuses a damaged key file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgkey-'));
    const file = join(dir, 'wireguard.key');
    const a = loadOrCreateKey(file);
    expect(isWireguardKey(a.privateKey) && isWireguardKey(a.publicKey)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateKey(file)).toEqual(a);
    writeFileSync(file, 'garbage\n');
    expect(() => loadOrCreateKey(file)).toThrow(/does not hold a WireGuard private key/);
  });

  it('trusts a pair only when each side trusts the other one’s underlay', () => {
    expect(inSubnets('192.168.1.7', ['10.0.0.0/8', '192.168.1.0/24'])).toBe(true);
    expect(inSubnets('192.168.2.7', ['192.168.1.0/24'])).toBe(false);
    const me = { underlay: '192.168.1.2', trusted: ['192.168.1.0/24'] };
    expect(isTrustedPair(me, { underlay: '192.168.1.3', trusted: ['192.168.1.0/24'] })).toBe(true);
    expect(isTrustedPair(me, { underlay: '192.168.1.3', trusted: [] })).toBe(false); // they do not trust us
    expect(isTrustedPair(me, { underlay: '192.168.1.3' })).toBe(false);
    expect(isTrustedPair({ ...me, trusted: [] }, { underlay: '192.168.1.3', trusted: ['192.168.1.0/24'] })).toBe(false);
  });

  it('the guard drops plain VXLAN both ways except through WireGuard or with trusted peers', () => {
    const none = guardRules('overlay-wg', 6784, []);
    expect(none).toContain('udp dport 6784 iifname != "overlay-wg" drop');
    expect(none).toContain('udp dport 6784 oifname != "overlay-wg" drop');
    const some = guardRules('overlay-wg', 6784, ['192.168.1.3', '192.168.1.4']);
    expect(some).toContain('ip saddr != { 192.168.1.3, 192.168.1.4 } drop');
    expect(some).toContain('ip daddr != { 192.168.1.3, 192.168.1.4 } drop');
  });

  it('the guard is intact only with both drops of its VXLAN port (as `nft -j` lists the table)', () => {
    const dport = (port: number) => ({ match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: port } });
    const rule = (chain: string, expr: Record<string, unknown>[]) => ({ rule: { family: 'inet', table: 'overlay-guard', chain, handle: 4, expr } });
    const table = (...rules: ReturnType<typeof rule>[]) =>
      rulesByTable(JSON.stringify({ nftables: [{ table: { family: 'inet', name: 'overlay-guard' } }, ...rules] })).get('inet overlay-guard');
    const iif = { match: { op: '!=', left: { meta: { key: 'iifname' } }, right: 'overlay-wg' } };
    const both = table(rule('input', [dport(6784), iif, { drop: null }]), rule('output', [dport(6784), { drop: null }]));
    expect(guardIntact(both, 6784)).toBe(true);
    expect(guardIntact(both, 4789)).toBe(false); // another port's rules
    expect(guardIntact(table(rule('input', [dport(6784), iif, { drop: null }])), 6784)).toBe(false); // one gone
    expect(guardIntact(table(rule('input', [dport(6784), { accept: null }]), rule('output', [dport(6784), { drop: null }])), 6784)).toBe(false);
    expect(guardIntact(undefined, 6784)).toBe(false);
  });

  it('endpoint records carry the key, port and trusted subnets, and bad ones are refused', () => {
    const base = { version: 1, underlay: '192.168.1.2', bridgeMac: '02:00:00:00:00:01', mtu: 1390, macs: [] };
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(parseEndpointRecord({ ...base, wgKey: key, wgPort: 6785, trusted: ['192.168.1.0/24'] })).toBeDefined();
    expect(parseEndpointRecord({ ...base, wgKey: 'short' })).toBeUndefined();
    expect(parseEndpointRecord({ ...base, wgKey: key, wgPort: 0 })).toBeUndefined();
    expect(parseEndpointRecord({ ...base, trusted: ['everything'] })).toBeUndefined();
    expect(parseEndpointRecord({ ...base, trusted: 'x' })).toBeUndefined();
  });
});
