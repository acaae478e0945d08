/**
 * `<plugin> plug` (the daemon's `overlay attach`, carried out by the plugin's attach code)
 * and the formats the daemon and the plugin exchange for it.
 */
import { describe, expect, it } from 'vitest';
import { cmdPlug } from '../../../cni/commands/plug.js';
import { parsePlugReply, parsePlugRequest, type PlugRequest } from '../../../src/dataplane/port-plan.js';
import { pluginPlugger } from '../../../src/dataplane/plugin-attach.js';
import { FakeAttacher } from './fakes.js';

const NS = '/run/netns/app1';
const request = (over: Partial<PlugRequest['plan']> = {}): PlugRequest => ({
  netns: NS,
  ifname: 'ethwe',
  routes: [{ dst: '224.0.0.0/4' }],
  plan: { address: '10.32.0.7/12', subnet: '10.32.0.0/12', mtu: 1450, bridge: 'overlay', hostVeth: 'ovl0123456789ab', mac: '02:42:0a:20:00:07', filter: { fromContainer: 'AAA=', toContainer: 'BBB=' }, ...over },
});

describe('plug: overlay attach through the plugin', () => {
  it('plugs the port in with the plan as given, through preflight, prepare and attach', async () => {
    const a = new FakeAttacher();
    a.addNetns(NS);
    expect(await cmdPlug(JSON.stringify(request()), a)).toEqual({ port: { hostVeth: 'ovl0123456789ab', mac: '02:42:0a:20:00:07' } });
    expect(a.sandboxes.get(NS)!.get('ethwe')).toMatchObject({ mac: '02:42:0a:20:00:07', addresses: ['10.32.0.7/12'], routes: [{ dst: '10.32.0.0/12' }, { dst: '224.0.0.0/4' }] });
    expect(a.hostEnds.get('ovl0123456789ab')).toMatchObject({ name: 'ethwe', up: true });
  });

  it('answers each failure with its kind, and leaves nothing half made', async () => {
    const a = new FakeAttacher();
    expect(await cmdPlug(JSON.stringify(request()), a)).toEqual({ error: { kind: 'netns-not-found', message: `network namespace ${NS} does not exist` } });
    a.addNetns(NS);
    await cmdPlug(JSON.stringify(request()), a);
    const taken = await cmdPlug(JSON.stringify(request({ hostVeth: 'ovl0000000000aa' })), a);
    expect(taken).toMatchObject({ error: { kind: 'interface-exists' } });
    expect(a.hostEnds.has('ovl0000000000aa')).toBe(false);

    const b = new FakeAttacher();
    b.addNetns(NS);
    b.failAttach = new Error('RTNETLINK: no buffer space');
    expect(await cmdPlug(JSON.stringify(request()), b)).toEqual({ error: { kind: 'failed', message: 'RTNETLINK: no buffer space' } });
    expect(b.hostEnds.size).toBe(0); // the veth prepare made is gone again
  });

  it('refuses a malformed request by naming what is wrong, before touching anything', async () => {
    const a = new FakeAttacher();
    a.addNetns(NS);
    const bad = async (text: string) => {
      const r = await cmdPlug(text, a);
      expect(a.hostEnds.size).toBe(0);
      return 'error' in r ? r.error : undefined;
    };
    expect(await bad('[1')).toEqual({ kind: 'bad-request', message: 'bad plug request: not JSON' });
    expect((await bad(JSON.stringify({ ...request(), netns: 'app1' })))?.message).toMatch(/"netns" must be an absolute path/);
    expect((await bad(JSON.stringify({ ...request(), ifname: 'a/b' })))?.message).toMatch(/"ifname" is missing or malformed/);
    expect((await bad(JSON.stringify(request({ mac: '01:00:5e:00:00:01' }))))?.message).toMatch(/"mac" must be a unicast MAC/);
    expect((await bad(JSON.stringify(request({ mtu: 20 }))))?.message).toMatch(/"mtu" must be an integer between 68 and 65535/);
    expect((await bad(JSON.stringify(request({ hostVeth: 'eth0' }))))?.message).toMatch(/"hostVeth" is missing or malformed/);
    expect((await bad(JSON.stringify({ ...request(), routes: 'default' })))?.message).toMatch(/"routes" must be a list/);
  });

  it('a request survives the trip: what the daemon writes is what the plugin reads', () => {
    const r = request({ gateway: '10.32.0.1', filterOn: 'container' });
    expect(parsePlugRequest(JSON.stringify(r))).toEqual(r);
  });

  it("the daemon reads the plugin's answer, and quotes anything else it printed", async () => {
    expect(parsePlugReply('{"port":{"hostVeth":"ovl0123456789ab","mac":"02:42:0a:20:00:07"}}\n')).toEqual({ port: { hostVeth: 'ovl0123456789ab', mac: '02:42:0a:20:00:07' } });
    expect(parsePlugReply('{"error":{"kind":"interface-exists","message":"x"}}')).toEqual({ error: { kind: 'interface-exists', message: 'x' } });
    expect(() => parsePlugReply('Segmentation fault')).toThrow(/not JSON: "Segmentation fault"/);
    expect(() => parsePlugReply('{"error":{"kind":"weird","message":"x"}}')).toThrow(/neither a port nor an error/);
  });

  it('without the plugin binary, overlay attach says where it looked', async () => {
    await expect(pluginPlugger('/nonexistent/cni/overlay')(request())).rejects.toThrow(/no plugin executable at \/nonexistent\/cni\/overlay/);
  });
});
