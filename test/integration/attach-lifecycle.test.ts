/**
 * `overlay attach` ports live and die with their namespace: when the namespace is deleted
 * its address is released and `ps` forgets it, whether the daemon saw it happen (the
 * veth's deletion event) or was down at the time (the first pass at launch).
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, ipamReady, killDaemon, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

describe('attachments whose namespace is gone', () => {
  let lab: Lab;
  let d: DaemonHost;

  const listed = async (ns: string) => (await overlay(d, ['ps'])).stdout.includes(ns.replace(/^\/run\/netns\//, ''));
  const allocated = async (address: string) => {
    const r = await apiRequest(d.apiSocket, 'GET', '/ipam/allocations');
    return r.json<{ owner: string; address: string }[]>().some((a) => a.address === address);
  };
  const attach = async (suffix: string) => {
    const ns = await lab.addNamespace(suffix);
    const r = await overlay(d, ['attach', ns]);
    expect(r.exitCode, r.stderr).toBe(0);
    return { ns, ip: r.stdout.trim().split('/')[0]! };
  };

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 1, label: 'attlife' });
    d = daemonHost(lab, 1);
    await launch(d, []);
    expect(await ipamReady([d])).toBe(true);
  });
  afterAll(async () => {
    if (d) await cleanupDaemons([d]);
    await lab?.destroy();
  });

  it('with the daemon running: the address is released and ps forgets it as the namespace goes', async () => {
    const c = await attach('up');
    expect(await listed(c.ns)).toBe(true);
    expect(await allocated(c.ip)).toBe(true);
    await execa('ip', ['netns', 'del', c.ns]);
    expect(await waitFor(async () => !(await allocated(c.ip)) && !(await listed(c.ns)), 5_000, 100)).toBe(true);
  });

  it('with the daemon down: released at the next launch', async () => {
    const c = await attach('down');
    const kept = await attach('kept');
    await killDaemon(d);
    await execa('ip', ['netns', 'del', c.ns]);
    await launch(d, []);
    expect(await waitFor(async () => !(await allocated(c.ip)) && !(await listed(c.ns)), 5_000, 100)).toBe(true);
    // An attachment whose namespace is still there is kept.
    expect(await listed(kept.ns)).toBe(true);
    expect(await allocated(kept.ip)).toBe(true);
  });
});
