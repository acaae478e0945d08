/**
 * Address text from users and peers goes through one parser (src/lib/ipv4.ts;
 * ip-cidr for IPv6 link-locals): what it refuses is refused at the edge, with
 * the CLI's usage error or by dropping a peer's bad record.
 */
import { execa } from 'execa';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEndpointRecord } from '../../../src/dataplane/endpoints.js';

const CLI = resolve(__dirname, '../../../dist/overlay');

describe('address text', () => {
  it.each(['net:10.32.1.0/33', 'ip:10.32.1.300/24', 'net:10.32.1.0', 'subnet:10.32.1.0/24'])('attach refuses %s before asking the daemon', async (spec) => {
    const r = await execa(CLI, ['attach', 'ns1', spec, '--api-socket', '/nonexistent/overlay.sock'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`expected net:<CIDR> or ip:<address/prefix>, got "${spec}"`);
  });

  it("drops a peer's endpoint record whose addresses do not parse", () => {
    const rec = { version: 1, underlay: '198.51.100.2', bridgeMac: '02:aa:00:00:00:02', linkLocal: 'fe80::1', mtu: 1450, macs: ['02:bb:00:00:00:01'] };
    expect(parseEndpointRecord(rec)).toBeDefined();
    expect(parseEndpointRecord({ ...rec, underlay: '198.51.100.256' })).toBeUndefined();
    expect(parseEndpointRecord({ ...rec, linkLocal: 'fe80::::1' })).toBeUndefined();
    expect(parseEndpointRecord({ ...rec, linkLocal: 'fe80:1:2:3:4:5:6:7:8' })).toBeUndefined();
  });
});
