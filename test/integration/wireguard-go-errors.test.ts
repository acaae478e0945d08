/**
 * When wireguard-go cannot start, the launch fails with wireguard-go's own
 * reason: a second lab host given the same WireGuard device name collides
 * with the first one's control socket (/var/run/wireguard/<dev>.sock is shared
 * by every namespace), and the error says so instead of quoting the banner
 * about kernel support that wireguard-go prints either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, launch, overlay, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

describe('wireguard-go failing to start', () => {
  let lab: Lab;
  let d: DaemonHost[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'wgerr' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    // Both hosts on the first one's device name.
    d[1]!.env['OVERLAY_WIREGUARD_DEV'] = d[0]!.env['OVERLAY_WIREGUARD_DEV']!;
  });
  afterAll(async () => {
    await cleanupDaemons([d[1]!, d[0]!].filter(Boolean));
    await lab?.destroy();
  });

  it('names the UAPI error and the way out', async () => {
    await launch(d[0]!, [], { OVERLAY_PASSWORD: 'pw' });
    const r = await overlay(d[1]!, ['launch', '--nickname', 'h2'], { env: { OVERLAY_PASSWORD: 'pw' } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/UAPI listen error: unix socket in use/);
    expect(r.stderr).toMatch(/choose another --wireguard-dev/);
    expect(r.stderr).not.toMatch(/first class support/);
  });
});
