import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DAEMON_RUNTIME_ENV } from '../../../src/cli/daemon-process.js';

const unit = readFileSync(new URL('../../../packaging/overlay.service', import.meta.url), 'utf8');

describe('the daemon runtime environment', () => {
  it('is the same for `overlay launch` and the systemd unit (both launch paths run the daemon alike)', () => {
    const fromUnit = Object.fromEntries(
      [...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]).filter(([k]) => /^(BUN_|MIMALLOC_)/.test(k!)),
    );
    expect(fromUnit).toEqual(DAEMON_RUNTIME_ENV);
  });
});
