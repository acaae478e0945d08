/** The reason given when wireguard-go fails: its own error, not its banner. */
import { describe, expect, it } from 'vitest';
import { wireguardGoFailure } from '../../../src/dataplane/wireguard.js';

// What wireguard-go 0.0.2023 printed here for a second device of the same name on one machine.
const BANNER = `┌──────────────────────────────────────────────────────┐
│                                                      │
│   Running wireguard-go is not required because this  │
│   kernel has first class support for WireGuard. For  │
│   information on installing the kernel module,       │
│   please visit:                                      │
│         https://www.wireguard.com/install/           │
│                                                      │
└──────────────────────────────────────────────────────┘`;

describe('wireguardGoFailure', () => {
  it('names the UAPI error and what to do, without the banner', () => {
    const m = wireguardGoFailure('overlay-wg', 'ERROR: (overlay-wg) 2026/12/01 09:39:33 UAPI listen error: unix socket in use', BANNER + BANNER);
    expect(m).toMatch(/^UAPI listen error: unix socket in use \(another wireguard-go already serves a device named overlay-wg/);
    expect(m).toMatch(/choose another --wireguard-dev\)$/);
    expect(m).not.toMatch(/first class support/);
  });

  it('keeps every error line', () => {
    expect(wireguardGoFailure('wg0', 'INFO: (wg0) 2026/12/01 09:00:00 Starting\nERROR: (wg0) 2026/12/01 09:00:00 Failed to create TUN device: no such file', BANNER)).toBe('Failed to create TUN device: no such file');
  });

  it('falls back to stderr without the box, then to a plain statement', () => {
    expect(wireguardGoFailure('wg0', '', `${BANNER}\nPlease do not run as root`)).toBe('Please do not run as root');
    expect(wireguardGoFailure('wg0', '', BANNER)).toBe('it exited without saying why');
  });
});
