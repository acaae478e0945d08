/**
 * The daemon's state under damage: a corrupted state database, a damaged
 * allocation record, and a disk that fills up while allocations are written.
 * One namespaced host; for the full disk, its data dir is a small tmpfs in a
 * private mount namespace that only this test's processes see.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, overlayCommand, daemonHost, ipamReady, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

describe('state on disk under damage', () => {
  let lab: Lab;
  let d: DaemonHost;
  let holder: ResultPromise | undefined;

  const allocate = async (host: DaemonHost, owner: string) => {
    const r = await apiRequest(host.apiSocket, 'POST', '/ipam/allocate', { owner }, { timeoutMs: 20_000 });
    return { status: r.status, address: r.status === 200 ? r.json<{ address: string }>().address : undefined, body: r.body };
  };
  const lookup = async (host: DaemonHost, owner: string) => {
    const r = await apiRequest(host.apiSocket, 'GET', `/ipam/lookup?owner=${encodeURIComponent(owner)}`);
    return r.status === 200 ? r.json<{ address: string }>().address : undefined;
  };

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 1, label: 'dur' });
    d = daemonHost(lab, 1);
  });
  afterAll(async () => {
    if (d) await cleanupDaemons([d]);
    if (holder?.pid) process.kill(holder.pid, 'SIGKILL');
    await holder?.catch(() => undefined);
    await lab?.destroy();
  });

  it('a damaged allocation record stops the start with the way out, and reset recovers', async () => {
    await launch(d, []);
    expect(await ipamReady([d])).toBe(true);
    expect((await allocate(d, 'c1:eth0')).status).toBe(200);
    expect((await overlay(d, ['stop'])).exitCode).toBe(0);
    const db = new Level<string, unknown>(join(d.dataDir, 'db'), { valueEncoding: 'json' });
    await db.put('ipam/a/c1:eth0', 'not an allocation');
    await db.close();
    const r = await overlay(d, ['launch', '--nickname', 'h1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/IPAM state on disk is damaged \(the allocation of c1:eth0 does not parse\)/);
    expect(r.stderr).toMatch(/overlay reset/);
    expect((await overlay(d, ['reset'])).exitCode).toBe(0);
    await launch(d, []);
    expect(await ipamReady([d])).toBe(true);
    expect(await lookup(d, 'c1:eth0')).toBeUndefined();
    expect((await overlay(d, ['stop'])).exitCode).toBe(0);
  });

  it('a state database too corrupt to open is refused clearly; reset wipes it and removes the devices', async () => {
    await launch(d, []);
    expect(await ipamReady([d])).toBe(true);
    expect((await overlay(d, ['stop'])).exitCode).toBe(0);
    writeFileSync(join(d.dataDir, 'db', 'CURRENT'), 'MANIFEST-999999\n');
    const r = await overlay(d, ['launch', '--nickname', 'h1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/cannot open the state database/);
    expect(r.stderr).toMatch(/move it aside \(or run "overlay reset/);
    const reset = await overlay(d, ['reset']);
    expect(reset.exitCode, reset.stderr).toBe(0);
    expect((await lab.exec(d.host.ns, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/overlay/);
    await launch(d, []);
    expect(await ipamReady([d])).toBe(true);
    expect((await overlay(d, ['stop'])).exitCode).toBe(0);
  });

  it('a disk that fills up during writes loses no acknowledged allocation', async () => {
    expect((await overlay(d, ['reset'])).exitCode).toBe(0);
    // The data dir becomes a 2 MiB tmpfs in a mount namespace held open by a sleeping process;
    // the API socket stays outside it, where the test can reach it.
    const disk = { ...d, env: { ...d.env, OVERLAY_API_SOCKET: join('/tmp', lab.prefix, 'sock', 'api.sock') }, apiSocket: join('/tmp', lab.prefix, 'sock', 'api.sock') };
    mkdirSync(join('/tmp', lab.prefix, 'sock'), { recursive: true });
    holder = execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=2m,mode=0700 tmpfs ${d.dataDir} && echo mounted && exec sleep 600`]);
    await new Promise<void>((resolve) => holder!.stdout!.on('data', (b: Buffer) => b.toString().includes('mounted') && resolve()));
    const inMount = (cmd: string[], opts: { env?: Record<string, string>; reject?: boolean } = {}) =>
      execa('nsenter', ['-t', String(holder!.pid), '-m', ...cmd], { env: opts.env, reject: opts.reject ?? true });
    const start = async () => {
      const r = await inMount(['ip', 'netns', 'exec', d.host.ns, ...overlayCommand(), 'launch', '--nickname', 'h1'], { env: disk.env, reject: false });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await ipamReady([disk])).toBe(true);
    };
    await start();

    const acknowledged = new Map<string, string>();
    const refused: string[] = [];
    const round = async (prefix: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const owner = `${prefix}${i}:eth0`;
        const r = await allocate(disk, owner);
        if (r.status === 200) acknowledged.set(owner, r.address!);
        else refused.push(owner);
      }
    };
    await round('before', 20);
    expect(refused).toEqual([]);
    // Fill the disk to the last byte.
    await inMount(['sh', '-c', `dd if=/dev/zero of=${d.dataDir}/fill bs=4k 2>/dev/null; true`]);
    await round('full', 200);
    expect(refused.length, 'no write failed: the disk did not fill up').toBeGreaterThan(0);
    // Space again: the refused ones may be asked for again.
    await inMount(['rm', '-f', `${d.dataDir}/fill`]);
    for (const owner of [...refused]) {
      const r = await allocate(disk, owner);
      if (r.status === 200) acknowledged.set(owner, r.address!);
    }
    // A crash now, and a restart on the same disk: every acknowledged allocation is still there.
    const pid = Number((await inMount(['cat', join(d.dataDir, 'overlay.pid')])).stdout.trim());
    process.kill(pid, 'SIGKILL');
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5_000);
    await start();
    for (const [owner, address] of acknowledged) expect(await lookup(disk, owner), owner).toBe(address);
    const addresses = [...acknowledged.values()];
    expect(new Set(addresses).size).toBe(addresses.length);
    const stop = await overlay(disk, ['stop']);
    expect(stop.exitCode).toBe(0);
  });
});
