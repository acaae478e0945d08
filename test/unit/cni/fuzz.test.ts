/** Whatever arrives on stdin or in the env, the plugin answers one JSON error and loses nothing. */
import { describe, expect, it } from 'vitest';
import { runPlugin } from '../../../cni/run.js';
import { seededRandom, randomInt } from '../../../src/lib/random.js';
import { fakeDeps } from './fakes.js';

const VALID = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'net1',
  type: 'overlay',
  subnet: '10.32.0.0/12',
  mtu: 1400,
  runtimeConfig: { ips: ['10.32.0.9'], mac: '02:00:00:00:00:09' },
  prevResult: { interfaces: [{ name: 'lo' }], ips: [{ address: '127.0.0.1/8', interface: 0 }], routes: [], dns: {} },
});

function mutate(rand: () => number, s: string): string {
  const chars = s.split('');
  const n = 1 + randomInt(rand, 4);
  for (let i = 0; i < n; i++) {
    const at = randomInt(rand, chars.length + 1);
    switch (randomInt(rand, 4)) {
      case 0:
        chars.splice(at, 1);
        break;
      case 1:
        chars.splice(at, 0, String.fromCharCode(randomInt(rand, 128)));
        break;
      case 2:
        chars.length = at; // truncate
        break;
      default:
        chars[at] = '"';
    }
  }
  return chars.join('');
}

describe('fuzzed input', () => {
  it('every mutated config yields exit 0 with a result or exit 1 with one error object', async () => {
    const seed = 1234;
    const rand = seededRandom(seed);
    for (let i = 0; i < 500; i++) {
      const f = fakeDeps();
      f.attacher.addNetns('/run/netns/c1');
      const stdin = mutate(rand, VALID);
      const cmd = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'][randomInt(rand, 5)]!;
      const out = await runPlugin(
        { CNI_COMMAND: cmd, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0' },
        stdin,
        () => f.deps,
      );
      const parsed = out.stdout ? JSON.parse(out.stdout) : {};
      if (out.exitCode !== 0) {
        expect(Number.isInteger(parsed.code), `seed ${seed} case ${i}: ${stdin}`).toBe(true);
        expect(typeof parsed.msg).toBe('string');
        expect(parsed.code).not.toBe(999);
        // A failed ADD leaves no allocation, interface or record behind.
        if (cmd === 'ADD') {
          expect(f.daemon.allocs.size).toBe(0);
          expect(f.store.records.size).toBe(0);
        }
      }
    }
  });
});
