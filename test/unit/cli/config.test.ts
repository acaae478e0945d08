import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../../src/cli/args.js';
import { LAUNCH_FLAGS, resolveDaemonConfig, resolveLocation } from '../../../src/daemon/config.js';

const launch = (argv: string[], env: Record<string, string> = {}) => {
  const { flags, positionals } = parseArgs(argv, LAUNCH_FLAGS, 'launch');
  return resolveDaemonConfig(flags, positionals, env);
};

describe('CLI arguments and daemon configuration', () => {
  it('parses flags in both forms, booleans and positionals', () => {
    const c = launch(['--port=7000', '--nickname', 'n1', '--no-discovery', '198.51.100.2', '198.51.100.3:7000']);
    expect(c.port).toBe(7000);
    expect(c.nickname).toBe('n1');
    expect(c.discovery).toBe(false);
    expect(c.targets).toEqual(['198.51.100.2', '198.51.100.3:7000']);
  });

  it('flags win over the environment, which wins over defaults', () => {
    expect(resolveLocation({}, {}).dataDir).toBe('/var/lib/overlay');
    expect(resolveLocation({}, { OVERLAY_DATA_DIR: '/x' }).dataDir).toBe('/x');
    expect(resolveLocation({ 'data-dir': '/y' }, { OVERLAY_DATA_DIR: '/x' }).dataDir).toBe('/y');
    expect(resolveLocation({}, { OVERLAY_API_SOCKET: '/s', OVERLAY_HTTP_ADDR: '127.0.0.1:1' })).toMatchObject({ apiSocket: '/s', httpAddr: '127.0.0.1:1' });
  });

  it('security settings: cluster name (default "overlay"), API group and metrics address (off unless given)', () => {
    const d = launch([]);
    expect(d.clusterName).toBe('overlay');
    expect(d.apiGroup).toBeUndefined();
    expect(d.metricsAddr).toBeUndefined();
    const c = launch(['--cluster-name', 'prod-eu', '--api-group', 'overlay', '--metrics-addr', '0.0.0.0:9784']);
    expect(c).toMatchObject({ clusterName: 'prod-eu', apiGroup: 'overlay', metricsAddr: '0.0.0.0:9784' });
    expect(launch([], { OVERLAY_CLUSTER_NAME: 'from-env' }).clusterName).toBe('from-env');
    expect(launch(['--api-group', '1234']).apiGroup).toBe('1234');
  });

  it('takes the password from the flag, the environment or a file', () => {
    expect(launch([], { OVERLAY_PASSWORD: 'env' }).password).toBe('env');
    expect(launch(['--password', 'flag'], { OVERLAY_PASSWORD: 'env' }).password).toBe('flag');
    const f = join(mkdtempSync(join(tmpdir(), 'ovpw')), 'pw');
    writeFileSync(f, 'from-file\n');
    expect(launch(['--password-file', f]).password).toBe('from-file');
  });

  it.each([
    [['--port', 'x'], /whole number/],
    [['--port', '70000'], /1-65535/],
    [['--name', 'nope'], /invalid peer name/],
    [['--log-level', 'loud'], /log-level/],
    [['--http-addr', '10.0.0.1:6784'], /not a loopback address/],
    [['--http-addr', 'nonsense'], /host:port/],
    [['--password', ''], /must not be empty/],
    [['--password-file', '/nonexistent/pw'], /cannot read --password-file/],
    [['bad peer!'], /invalid peer address/],
    [['--unknown'], /unknown option/],
    [['--port'], /needs a value/],
    [['--foreground=maybe'], /takes no value/],
    [['--bridge', 'a-name-far-too-long'], /--bridge must be an interface name/],
    [['--bridge', 'x', '--vxlan-dev', 'x'], /must differ/],
    [['--vxlan-vni', '0'], /--vxlan-vni must be/],
    [['--vxlan-port', '6783'], /must differ from the control --port/],
    [['--mtu', '100'], /--mtu must be 576 to 65000/],
    [['--probe-seconds', '0'], /--probe-seconds must be 1 to 86400/],
    [['--probe-seconds', '2.5'], /--probe-seconds must be a whole number/],
    [['--ipalloc-range', '10.0.0.0/7'], /--ipalloc-range must be between/],
    [['--ipalloc-range', '10.32.0.1/12'], /host bits|network address|not a network/i],
    [['--ipalloc-default-subnet', '10.99.0.0/24'], /inside --ipalloc-range/],
    [['--ipalloc-init', 'sometimes'], /--ipalloc-init must be/],
    [['--ipalloc-wait', '-1'], /--ipalloc-wait must be/],
    [['--cluster-name', 'has space'], /--cluster-name must be 1-64 printable/],
    [['--cluster-name', ''], /--cluster-name must be 1-64 printable/],
    [['--api-group', 'bad group!'], /--api-group must be a group name or a numeric gid/],
    [['--metrics-addr', 'nowhere'], /--metrics-addr must be host:port/],
  ])('refuses %j', (argv, msg) => {
    expect(() => launch(argv as string[])).toThrow(UsageError);
    expect(() => launch(argv as string[])).toThrow(msg);
  });

  it('data plane defaults and overrides', () => {
    expect(launch([]).dataplane).toMatchObject({ bridge: 'overlay', vxlanDev: 'overlay-vx', vni: 6784, port: 6784, mtu: undefined, probeRefreshMs: 60_000 });
    expect(launch(['--probe-seconds', '5']).dataplane.probeRefreshMs).toBe(5_000);
    expect(launch(['--bridge', 'br-ov', '--vxlan-dev', 'vx-ov', '--vxlan-vni', '42', '--vxlan-port', '4789', '--mtu', '1400']).dataplane).toMatchObject({
      bridge: 'br-ov',
      vxlanDev: 'vx-ov',
      vni: 42,
      port: 4789,
      mtu: 1400,
    });
  });

  it('a password turns on the WireGuard data plane; its flags need one and are checked', () => {
    expect(launch([]).dataplane.wireguard).toBeUndefined();
    const wg = launch(['--data-dir', '/var/lib/x', '--trusted-subnets', '192.168.1.0/24, 10.1.0.0/16'], { OVERLAY_PASSWORD: 'pw' }).dataplane.wireguard;
    expect(wg).toEqual({ dev: 'overlay-wg', port: 6785, trusted: ['192.168.1.0/24', '10.1.0.0/16'], keyFile: '/var/lib/x/wireguard.key' });
    expect(launch(['--wireguard-dev', 'wg7', '--wireguard-port', '51820'], { OVERLAY_PASSWORD: 'pw' }).dataplane.wireguard).toMatchObject({ dev: 'wg7', port: 51820 });
    expect(launch([], { OVERLAY_PASSWORD: 'pw', OVERLAY_WIREGUARD_DEV: 'wgh1' }).dataplane.wireguard?.dev).toBe('wgh1');
    expect(() => launch(['--trusted-subnets', '10.0.0.0/8'])).toThrow(/needs a password/);
    expect(() => launch(['--wireguard-port', '6784'], { OVERLAY_PASSWORD: 'pw' })).toThrow(/must differ/);
    expect(() => launch(['--wireguard-dev', 'a/b'], { OVERLAY_PASSWORD: 'pw' })).toThrow(/interface name/);
    expect(() => launch(['--trusted-subnets', '10.0.0.1/8'], { OVERLAY_PASSWORD: 'pw' })).toThrow(/host bits/);
    expect(() => launch(['--trusted-subnets', 'lan'], { OVERLAY_PASSWORD: 'pw' })).toThrow(/not an IPv4 CIDR/);
  });

  it('IPAM defaults: the range, and consensus among launch peers + 1', () => {
    const c = launch(['198.51.100.2', '198.51.100.3']).ipam;
    expect(c.init).toEqual({ mode: 'consensus', n: 3 });
    expect(c.waitMs).toBe(10_000);
    expect(launch(['--ipalloc-init', 'observer']).ipam.init).toEqual({ mode: 'observer' });
  });

  it('accepts a remote HTTP address only when asked explicitly', () => {
    expect(launch(['--http-addr', '0.0.0.0:6784', '--http-addr-allow-remote']).allowRemoteHttp).toBe(true);
  });
});
