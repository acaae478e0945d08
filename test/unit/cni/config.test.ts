import { describe, expect, it } from 'vitest';
import { parseCniArgs, parseEnv, parseNetConf } from '../../../cni/config.js';
import { CniError } from '../../../cni/spec/errors.js';

function codeOf(fn: () => unknown): { code: number; msg: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return { code: (e as CniError).code, msg: (e as CniError).message };
  }
  throw new Error('expected a CniError');
}

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'overlay', ...extra });

describe('CNI_ARGS', () => {
  it('splits each pair on the first "="', () => {
    expect(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=a=b=c;IP=10.32.0.9')).toEqual({ ignoreUnknown: true, ip: '10.32.0.9' });
  });
  it('rejects unknown keys unless IgnoreUnknown', () => {
    expect(codeOf(() => parseCniArgs('FOO=bar')).code).toBe(4);
    expect(codeOf(() => parseCniArgs('FOO=bar')).msg).toContain('FOO');
    expect(parseCniArgs('IgnoreUnknown=true;FOO=bar').ignoreUnknown).toBe(true);
    expect(codeOf(() => parseCniArgs('IgnoreUnknown=0;FOO=bar')).code).toBe(4);
  });
  it('validates IP and MAC, lowercasing the MAC', () => {
    expect(parseCniArgs('MAC=02:AA:BB:CC:DD:EE').mac).toBe('02:aa:bb:cc:dd:ee');
    expect(codeOf(() => parseCniArgs('IP=10.32.0.300')).code).toBe(4);
    expect(codeOf(() => parseCniArgs('MAC=zz')).code).toBe(4);
    expect(codeOf(() => parseCniArgs('noequals')).code).toBe(4);
    expect(codeOf(() => parseCniArgs('=x')).code).toBe(4);
  });
  it('accepts empty and trailing separators', () => {
    expect(parseCniArgs('')).toEqual({ ignoreUnknown: false });
    expect(parseCniArgs('IP=10.32.0.9;')).toEqual({ ignoreUnknown: false, ip: '10.32.0.9' });
  });
});

describe('environment', () => {
  const good = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc-1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
  it('parses a complete ADD environment', () => {
    expect(parseEnv(good)).toMatchObject({ command: 'ADD', containerId: 'abc-1', netns: '/run/netns/x', ifname: 'eth0' });
  });
  it.each([
    ['missing container id', { CNI_CONTAINERID: undefined }, 'CNI_CONTAINERID'],
    ['missing netns', { CNI_NETNS: undefined }, 'CNI_NETNS'],
    ['missing ifname', { CNI_IFNAME: undefined }, 'CNI_IFNAME'],
    ['bad container id', { CNI_CONTAINERID: '-bad' }, 'CNI_CONTAINERID'],
    ['long ifname', { CNI_IFNAME: 'a234567890123456' }, 'CNI_IFNAME'],
    ['ifname with slash', { CNI_IFNAME: 'a/b' }, 'CNI_IFNAME'],
    ['ifname dot', { CNI_IFNAME: '..' }, 'CNI_IFNAME'],
    ['relative netns', { CNI_NETNS: 'netns/x' }, 'CNI_NETNS'],
    ['unknown command', { CNI_COMMAND: 'FROB' }, 'CNI_COMMAND'],
    ['bad CNI_ARGS', { CNI_ARGS: 'X=1' }, 'CNI_ARGS'],
  ])('%s → code 4 naming %s', (_n, patch, name) => {
    const r = codeOf(() => parseEnv({ ...good, ...patch }));
    expect(r.code).toBe(4);
    expect(r.msg).toContain(name);
  });
  it('DEL does not need CNI_NETNS', () => {
    expect(parseEnv({ ...good, CNI_COMMAND: 'DEL', CNI_NETNS: undefined }).netns).toBe('');
  });
});

describe('network config', () => {
  it('applies defaults and keeps unknown keys', () => {
    const c = parseNetConf(conf({ somethingElse: { a: 1 } }));
    expect(c).toMatchObject({
      hairpinMode: false,
      isolation: true,
      gateway: false,
      multicastRoute: true,
      daemonSocket: '/run/overlay/overlay.sock',
      stateDir: '/var/lib/overlay/cni',
    });
    expect(c.subnet).toBeUndefined();
    expect(c.mtu).toBeUndefined();
    expect(c.raw.somethingElse).toEqual({ a: 1 });
  });
  it('reads every supported key', () => {
    const keys = { subnet: '10.40.0.0/16', mtu: 1400, hairpinMode: true, isolation: false, gateway: true, multicastRoute: false, daemonSocket: '/tmp/s.sock', stateDir: '/tmp/st' };
    expect(parseNetConf(conf(keys))).toMatchObject(keys);
  });
  it.each([
    ['subnet', '10.40.0.0'],
    ['subnet', 12],
    ['subnet', '10.40.0.0/33'],
    ['mtu', 1400.5],
    ['mtu', '1400'],
    ['mtu', 20],
    ['mtu', 70000],
    ['hairpinMode', 'yes'],
    ['isolation', 1],
    ['gateway', 'yes'],
    ['multicastRoute', 0],
    ['daemonSocket', 'relative.sock'],
    ['daemonSocket', 5],
    ['stateDir', ''],
    ['runtimeConfig', []],
    ['name', ''],
    ['type', 7],
  ])('bad %s (%j) → code 7 naming the key', (key, value) => {
    const r = codeOf(() => parseNetConf(conf({ [key]: value })));
    expect(r.code).toBe(7);
    expect(r.msg).toContain(key);
  });
  it('bad runtimeConfig entries → code 7', () => {
    expect(codeOf(() => parseNetConf(conf({ runtimeConfig: { ips: ['nope'] } }))).msg).toContain('runtimeConfig.ips');
    expect(codeOf(() => parseNetConf(conf({ runtimeConfig: { mac: 'nope' } }))).msg).toContain('runtimeConfig.mac');
  });
  it('reads runtimeConfig ips/mac and ignores portMappings', () => {
    const c = parseNetConf(conf({ runtimeConfig: { ips: ['10.32.0.7/12'], mac: '02:00:00:00:00:AA', portMappings: [{ hostPort: 80 }] } }));
    expect(c.runtimeConfig).toEqual({ ips: ['10.32.0.7'], mac: '02:00:00:00:00:aa' });
  });
  it('garbage, truncated and non-object input → code 6', () => {
    expect(codeOf(() => parseNetConf('garbage')).code).toBe(6);
    expect(codeOf(() => parseNetConf(conf().slice(0, 20))).code).toBe(6);
    expect(codeOf(() => parseNetConf('[]')).code).toBe(6);
    expect(codeOf(() => parseNetConf('')).code).toBe(6);
  });
  it('unsupported or missing versions', () => {
    expect(codeOf(() => parseNetConf(conf({ cniVersion: '0.2.0' }))).code).toBe(1);
    expect(codeOf(() => parseNetConf(conf({ cniVersion: '2.0.0' }))).code).toBe(1);
    expect(codeOf(() => parseNetConf(conf({ cniVersion: undefined }))).code).toBe(7);
  });
  it('reads valid attachments under both names', () => {
    const a = [{ containerID: 'c1', ifname: 'eth0' }];
    expect(parseNetConf(conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': a })).validAttachments).toEqual([{ containerId: 'c1', ifname: 'eth0' }]);
    expect(parseNetConf(conf({ cniVersion: '1.1.0', 'cni.dev/attachments': a })).validAttachments).toHaveLength(1);
    expect(codeOf(() => parseNetConf(conf({ 'cni.dev/valid-attachments': [{ containerID: 1 }] }))).code).toBe(7);
  });
  it('a malformed prevResult → code 7', () => {
    expect(codeOf(() => parseNetConf(conf({ prevResult: { ips: [{ address: 'x' }] } }))).msg).toContain('prevResult');
    expect(codeOf(() => parseNetConf(conf({ prevResult: { interfaces: [], ips: [{ address: '1.2.3.4/24', interface: 0 }] } }))).code).toBe(7);
  });
});
