import { beforeEach, describe, expect, it } from 'vitest';
import { runPlugin } from '../../../cni/run.js';
import { SUPPORTED_VERSIONS, type CniVersion } from '../../../cni/spec/versions.js';
import { hostVethName } from '../../../src/dataplane/names.js';
import { fakeDeps } from './fakes.js';

const NETNS = '/run/netns/c1';
const HOST_VETH = hostVethName(NETNS, 'eth0');
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
let f: ReturnType<typeof fakeDeps>;

beforeEach(() => {
  f = fakeDeps();
  f.attacher.addNetns(NETNS);
});

function env(command: string, extra: Record<string, string> = {}) {
  return { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...extra };
}

function conf(version: CniVersion = '1.0.0', extra: Record<string, unknown> = {}) {
  return JSON.stringify({ cniVersion: version, name: 'net1', type: 'overlay', ...extra });
}

async function run(command: string, stdin: string, extraEnv: Record<string, string> = {}) {
  const out = await runPlugin(env(command, extraEnv), stdin, () => f.deps);
  return { ...out, json: out.stdout ? JSON.parse(out.stdout) : undefined };
}

async function add(version: CniVersion = '1.0.0', extra: Record<string, unknown> = {}, extraEnv: Record<string, string> = {}) {
  return run('ADD', conf(version, extra), extraEnv);
}

describe('about and VERSION', () => {
  it('prints an about line without CNI_COMMAND', async () => {
    const out = await runPlugin({}, '', () => f.deps);
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toMatch(/^CNI overlay plugin v\d+\.\d+\.\d+/);
  });
  it.each(SUPPORTED_VERSIONS)('VERSION answers in %s', async (v) => {
    const out = await run('VERSION', JSON.stringify({ cniVersion: v }));
    expect(out.exitCode).toBe(0);
    expect(out.json).toEqual({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] });
  });
  it('VERSION without or with garbage stdin answers in the latest version', async () => {
    expect((await run('VERSION', '')).json.cniVersion).toBe('1.1.0');
    expect((await run('VERSION', 'garbage')).json.cniVersion).toBe('1.1.0');
  });
});

describe('version matrix', () => {
  const available: Record<string, CniVersion> = { ADD: '0.3.0', DEL: '0.3.0', CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };
  for (const cmd of Object.keys(available)) {
    for (const v of SUPPORTED_VERSIONS) {
      const allowed = SUPPORTED_VERSIONS.indexOf(v) >= SUPPORTED_VERSIONS.indexOf(available[cmd]!);
      it(`${cmd} in ${v} ${allowed ? 'works' : 'is rejected with code 1'}`, async () => {
        let stdin = conf(v);
        if (cmd === 'CHECK' || cmd === 'DEL') {
          const added = await add(v);
          expect(added.exitCode).toBe(0);
          stdin = conf(v, { prevResult: added.json });
        }
        if (cmd === 'GC') stdin = conf(v, { 'cni.dev/valid-attachments': [] });
        const out = await run(cmd, stdin);
        if (allowed) {
          expect(out.exitCode, out.stdout).toBe(0);
          if (cmd === 'ADD') expect(out.json.cniVersion).toBe(v);
          else expect(out.stdout).toBe('');
        } else {
          expect(out.exitCode).toBe(1);
          expect(out.json).toMatchObject({ cniVersion: v, code: 1 });
        }
      });
    }
  }
});

describe('ADD', () => {
  it('reports bridge, host veth and container interface with sandbox and MAC', async () => {
    const out = await add('1.0.0');
    expect(out.exitCode).toBe(0);
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'overlay' }, { name: HOST_VETH }, { name: 'eth0', mac: expect.stringMatching(MAC), sandbox: NETNS }],
      ips: [{ address: '10.32.0.2/12', interface: 2 }],
      routes: [{ dst: '10.32.0.0/12' }, { dst: '224.0.0.0/4' }],
      dns: {},
    });
    const mac = out.json.interfaces[2].mac;
    expect(parseInt(mac.slice(0, 2), 16) & 3).toBe(2); // unicast, locally administered
    expect(f.store.records.get('c1:eth0')).toMatchObject({ address: '10.32.0.2/12', hostVeth: HOST_VETH, mac, netns: NETNS, network: 'net1' });
    expect(f.attacher.hostEnds.get(HOST_VETH)).toEqual({ netns: NETNS, name: 'eth0', up: true });
  });
  it('pre-1.0.0 results carry ips[].version', async () => {
    const out = await add('0.3.1');
    expect(out.json.ips).toEqual([{ version: '4', address: '10.32.0.2/12', interface: 2 }]);
  });
  it('adds the gateway and a default route only when the daemon reports one', async () => {
    f.daemon.gateway = '10.32.0.1';
    const out = await add('1.1.0');
    expect(out.json.ips[0]).toEqual({ address: '10.32.0.2/12', gateway: '10.32.0.1', interface: 2 });
    expect(out.json.routes).toEqual([{ dst: '10.32.0.0/12' }, { dst: '0.0.0.0/0', gw: '10.32.0.1' }, { dst: '224.0.0.0/4' }]);
  });
  it('puts a multicast route in the container, unless the config says multicastRoute: false', async () => {
    expect((await add('1.0.0')).exitCode).toBe(0);
    expect(f.attacher.sandboxes.get(NETNS)!.get('eth0')!.routes).toEqual([{ dst: '10.32.0.0/12' }, { dst: '224.0.0.0/4' }]);
    f.attacher.addNetns('/run/netns/c2');
    const out = await run('ADD', conf('1.0.0', { multicastRoute: false }), { CNI_CONTAINERID: 'c2', CNI_NETNS: '/run/netns/c2' });
    expect(out.json.routes).toEqual([{ dst: '10.32.0.0/12' }]);
    expect(f.attacher.sandboxes.get('/run/netns/c2')!.get('eth0')!.routes).toEqual([{ dst: '10.32.0.0/12' }]);
  });
  it('asks the daemon for a gateway only when the network wants one', async () => {
    expect((await add('1.0.0')).exitCode).toBe(0);
    expect(f.daemon.lastAdmit).not.toHaveProperty('gateway');
    f.attacher.addNetns('/run/netns/c2');
    expect((await run('ADD', conf('1.0.0', { gateway: true }), { CNI_CONTAINERID: 'c2', CNI_NETNS: '/run/netns/c2' })).exitCode).toBe(0);
    expect(f.daemon.lastAdmit).toMatchObject({ gateway: true });
  });
  it('honours subnet, IP and MAC from config, CNI_ARGS and runtimeConfig', async () => {
    const out = await add('1.0.0', { subnet: '10.40.1.0/24', runtimeConfig: { mac: '02:00:00:00:aa:bb' } }, { CNI_ARGS: 'IP=10.40.1.9' });
    expect(out.json.ips[0].address).toBe('10.40.1.9/24');
    expect(out.json.interfaces[2].mac).toBe('02:00:00:00:aa:bb');
    const out2 = await run('ADD', conf('1.0.0', { runtimeConfig: { ips: ['10.32.5.5/12'] } }), { CNI_IFNAME: 'eth1' });
    expect(out2.json.ips[0].address).toBe('10.32.5.5/12');
  });
  it('merges a prevResult: interfaces appended, indices shifted', async () => {
    const prevResult = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'lo', sandbox: NETNS }],
      ips: [{ version: '4', address: '127.0.0.1/8', interface: 0 }],
      routes: [],
      dns: { nameservers: ['10.0.0.53'] },
    };
    const out = await add('0.4.0', { prevResult });
    expect(out.json.interfaces.map((i: { name: string }) => i.name)).toEqual(['lo', 'overlay', HOST_VETH, 'eth0']);
    expect(out.json.ips).toEqual([
      { version: '4', address: '127.0.0.1/8', interface: 0 },
      { version: '4', address: '10.32.0.2/12', interface: 3 },
    ]);
    expect(out.json.dns).toEqual({ nameservers: ['10.0.0.53'] });
  });
  it('fails with code 100 if the interface exists, touching nothing', async () => {
    expect((await add()).exitCode).toBe(0);
    const out = await add();
    expect(out.json.code).toBe(100);
    expect(out.json.msg).toContain('eth0');
    expect(f.daemon.calls).toEqual(['admit c1:eth0']);
    expect(f.daemon.allocs.size).toBe(1);
    expect(f.store.records.size).toBe(1);
    expect(f.attacher.hostEnds.get(HOST_VETH)?.up).toBe(true);
  });
  it('fails with code 3 when the netns does not exist', async () => {
    const out = await run('ADD', conf(), { CNI_NETNS: '/run/netns/gone' });
    expect(out.json.code).toBe(3);
  });
  it('daemon down → code 11 with the reason, nothing left behind', async () => {
    f.daemon.down = true;
    const out = await add();
    expect(out.exitCode).toBe(1);
    expect(out.json.code).toBe(11);
    expect(out.json.msg).toContain('ECONNREFUSED');
    expect(f.attacher.sandboxes.get(NETNS)!.size).toBe(0);
    expect(f.attacher.hostEnds.size).toBe(0); // the veth made while the daemon was asked is gone
  });
  it('a request the daemon refuses → code 7 with its reason', async () => {
    const { DaemonRejectedError } = await import('../../../cni/ports.js');
    f.daemon.admit = async () => {
      throw new DaemonRejectedError('subnet 10.99.0.0/16 is outside the range 10.32.0.0/12');
    };
    const out = await add('1.0.0', { subnet: '10.99.0.0/16' });
    expect(out.json.code).toBe(7);
    expect(out.json.msg).toContain('outside the range');
  });
  it('IPAM not ready → code 11', async () => {
    f.daemon.ready = false;
    const out = await add();
    expect(out.json.code).toBe(11);
    expect(out.json.msg).toContain('not ready');
  });
  it('a failed attach releases the address (retry succeeds without DEL)', async () => {
    f.attacher.failAttach = new Error('veth create failed');
    const out = await add();
    expect(out.json).toMatchObject({ code: 5 });
    expect(out.json.msg).toContain('veth create failed');
    expect(f.daemon.allocs.size).toBe(0);
    expect(f.attacher.hostEnds.size).toBe(0);
    f.attacher.failAttach = undefined;
    expect((await add()).exitCode).toBe(0);
  });
  it('a rollback while the daemon went away queues the release', async () => {
    f.attacher.failAttach = new Error('veth create failed');
    const realAttach = f.attacher.attach.bind(f.attacher);
    f.attacher.attach = async (...a) => {
      f.daemon.down = true;
      return realAttach(...a);
    };
    const out = await add();
    expect(out.json.code).toBe(5);
    expect([...f.releases.owners]).toEqual(['c1:eth0']);
  });
  it('a failed state write detaches and releases', async () => {
    f.store.failPut = true;
    const out = await add();
    expect(out.exitCode).toBe(1);
    expect(out.json.msg).toContain('disk full');
    expect(f.daemon.allocs.size).toBe(0);
    expect(f.attacher.sandboxes.get(NETNS)!.size).toBe(0);
    expect(f.attacher.hostEnds.size).toBe(0);
    expect(f.store.records.size).toBe(0);
  });
  it('applies a queued release for the same owner before allocating again', async () => {
    f.releases.owners.add('c1:eth0');
    f.daemon.allocs.set('c1:eth0', { address: '10.32.0.99/12', subnet: '10.32.0.0/12' });
    const out = await add();
    expect(out.json.ips[0].address).toBe('10.32.0.2/12');
    expect(f.releases.owners.size).toBe(0);
  });
  it('a multicast MAC is refused as config (code 7), before anything is made', async () => {
    const out = await add('1.0.0', { runtimeConfig: { mac: '01:00:5e:00:00:01' } });
    expect(out.json).toMatchObject({ code: 7 });
    expect(out.json.msg).toContain('runtimeConfig.mac');
    expect(f.daemon.calls).toEqual([]);
    expect(f.attacher.hostEnds.size).toBe(0);
  });
  it('bad config → code 7 naming the key, nothing allocated', async () => {
    const out = await add('1.0.0', { mtu: 'big' });
    expect(out.json).toMatchObject({ cniVersion: '1.0.0', code: 7 });
    expect(out.json.msg).toContain('mtu');
    expect(f.daemon.calls).toEqual([]);
  });
  it('garbage stdin → code 6; bad env → code 4', async () => {
    expect((await run('ADD', '{"cniVersion": "1.0.0", "na')).json.code).toBe(6);
    expect((await run('ADD', conf(), { CNI_IFNAME: '' })).json.code).toBe(4);
  });
});

describe('DEL', () => {
  it('removes everything and is idempotent', async () => {
    await add();
    for (let i = 0; i < 2; i++) {
      const out = await run('DEL', conf());
      expect(out).toMatchObject({ exitCode: 0, stdout: '' });
    }
    expect(f.daemon.allocs.size).toBe(0);
    expect(f.store.records.size).toBe(0);
    expect(f.attacher.sandboxes.get(NETNS)!.size).toBe(0);
  });
  it('retires the port (down, renamed) and leaves destroying it to the daemon', async () => {
    await add();
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect(f.daemon.retired).toHaveLength(1);
    const [retired] = f.daemon.retired;
    expect(retired).toMatch(/^ovr[0-9a-f]{12}$/);
    expect(f.attacher.hostEnds.get(retired!)).toMatchObject({ up: false, name: retired });
    expect(f.attacher.hostEnds.has(HOST_VETH)).toBe(false);
    expect(f.attacher.destroyed).toEqual([]);
    // The interface name is free at once: the same container can be added again right away.
    expect((await add()).exitCode).toBe(0);
  });
  it('destroys the retired port itself when the daemon is down', async () => {
    await add();
    f.daemon.down = true;
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect(f.attacher.destroyed).toHaveLength(1);
    expect(f.attacher.hostEnds.size).toBe(0);
  });
  it('without a record, finds the port by its derived name', async () => {
    await add();
    f.store.records.clear();
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect(f.attacher.sandboxes.get(NETNS)!.size).toBe(0);
    expect(f.daemon.allocs.size).toBe(0);
  });
  it('works when the netns is gone or was never given', async () => {
    await add();
    f.attacher.sandboxes.delete(NETNS);
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect((await runPlugin({ ...env('DEL'), CNI_NETNS: '' }, conf(), () => f.deps)).exitCode).toBe(0);
    expect(f.daemon.allocs.size).toBe(0);
  });
  it('works for an attachment that never existed', async () => {
    expect((await run('DEL', conf())).exitCode).toBe(0);
  });
  it('queues the release while the daemon is down', async () => {
    await add();
    f.daemon.down = true;
    const out = await run('DEL', conf());
    expect(out.exitCode).toBe(0);
    expect([...f.releases.owners]).toEqual(['c1:eth0']);
    expect(f.store.records.size).toBe(0);
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect([...f.releases.owners]).toEqual(['c1:eth0']);
  });
});

describe('CHECK', () => {
  async function addThenCheckConf() {
    const added = await add('1.0.0');
    return conf('1.0.0', { prevResult: added.json });
  }
  it('passes on an intact attachment', async () => {
    const c = await addThenCheckConf();
    expect(await run('CHECK', c)).toMatchObject({ exitCode: 0, stdout: '' });
  });
  it('needs a prevResult', async () => {
    expect((await run('CHECK', conf())).json.code).toBe(7);
  });
  it.each([
    ['interface missing', () => f.attacher.sandboxes.get(NETNS)!.clear(), 'missing'],
    ['MAC changed', () => (f.attacher.sandboxes.get(NETNS)!.get('eth0')!.mac = '02:ff:ff:ff:ff:ff'), 'MAC'],
    ['address gone', () => (f.attacher.sandboxes.get(NETNS)!.get('eth0')!.addresses = []), 'address'],
    ['route gone', () => (f.attacher.sandboxes.get(NETNS)!.get('eth0')!.routes = []), 'route'],
    ['daemon lost the allocation', () => f.daemon.allocs.clear(), 'daemon'],
    ['daemon allocation differs', () => f.daemon.allocs.set('c1:eth0', { address: '10.32.0.77/12', subnet: '10.32.0.0/12' }), '10.32.0.77'],
  ])('%s → code 101', async (_n, breakIt, word) => {
    const c = await addThenCheckConf();
    breakIt();
    const out = await run('CHECK', c);
    expect(out.json.code).toBe(101);
    expect(out.json.msg).toContain(word);
  });
  it('netns gone → code 3; daemon down → code 11', async () => {
    const c = await addThenCheckConf();
    f.daemon.down = true;
    expect((await run('CHECK', c)).json.code).toBe(11);
    f.attacher.sandboxes.delete(NETNS);
    expect((await run('CHECK', c)).json.code).toBe(3);
  });
});

describe('GC', () => {
  it('removes only attachments of this network missing from valid-attachments', async () => {
    await add('1.1.0');
    f.attacher.addNetns('/run/netns/c2');
    expect((await run('ADD', conf('1.1.0'), { CNI_CONTAINERID: 'c2', CNI_NETNS: '/run/netns/c2' })).exitCode).toBe(0);
    expect((await run('ADD', conf('1.1.0'), { CNI_IFNAME: 'eth1' })).exitCode).toBe(0);
    f.store.records.set('other:eth0', { ...f.store.records.get('c1:eth0')!, containerId: 'other', network: 'net2' });
    const out = await run('GC', conf('1.1.0', { 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }));
    expect(out.exitCode).toBe(0);
    expect([...f.store.records.keys()].sort()).toEqual(['c1:eth0', 'other:eth0']);
    expect([...f.daemon.allocs.keys()]).toEqual(['c1:eth0']);
    expect([...f.attacher.sandboxes.get(NETNS)!.keys()]).toEqual(['eth0']);
    expect(f.attacher.sandboxes.get('/run/netns/c2')!.size).toBe(0);
    expect(f.daemon.retired).toHaveLength(2);
  });
  it('accepts cni.dev/attachments and queues releases while the daemon is down', async () => {
    await add('1.1.0');
    f.daemon.down = true;
    const out = await run('GC', conf('1.1.0', { 'cni.dev/attachments': [] }));
    expect(out.exitCode).toBe(0);
    expect(f.store.records.size).toBe(0);
    expect([...f.releases.owners]).toEqual(['c1:eth0']);
  });
  it('without the list → code 7', async () => {
    expect((await run('GC', conf('1.1.0'))).json.code).toBe(7);
  });
});

describe('STATUS', () => {
  it('0 when ready, 50 when IPAM is not ready, 51 when the daemon is down', async () => {
    expect((await run('STATUS', conf('1.1.0'))).exitCode).toBe(0);
    f.daemon.ready = false;
    expect((await run('STATUS', conf('1.1.0'))).json).toMatchObject({ code: 50, cniVersion: '1.1.0' });
    f.daemon.down = true;
    const out = await run('STATUS', conf('1.1.0'));
    expect(out.json.code).toBe(51);
    expect(out.json.msg).toContain('ECONNREFUSED');
  });
});
