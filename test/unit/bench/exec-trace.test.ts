import { describe, expect, it } from 'vitest';
import { execArgv, holdsSafetyPass } from '../../../scripts/bench/exec-trace.js';

// As strace -f -qq -z -s 64 -e trace=execve printed them in a lab host (iproute2 6.1, nft 1.0.6).
const PASS = [
  '[pid 21540] execve("/usr/sbin/ip", ["ip", "-j", "-d", "addr", "show"], 0x5622862dc388 /* 35 vars */) = 0',
  '[pid 21541] execve("/usr/sbin/bridge", ["bridge", "-j", "fdb", "show"], 0x5622862dc388 /* 35 vars */) = 0',
  '[pid 21542] execve("/usr/sbin/nft", ["nft", "-j", "list", "ruleset"], 0x5622862dc388 /* 35 vars */) = 0',
  '[pid 21545] execve("/usr/sbin/tc", ["tc", "-force", "-batch", "-"], 0x5622862dc388 /* 35 vars */) = 0',
];
const ADD = [
  '[pid 21543] execve("/usr/sbin/bridge", ["bridge", "fdb", "append", "02:00:00:00:00:01", "dev", "lo", "dst", "198.51.100.9"], 0x5622862dc388 /* 35 vars */) = 0',
  '[pid 21544] execve("/usr/sbin/ip", ["ip", "-j", "-d", "link", "show", "dev", "lo"], 0x5622862dc388 /* 35 vars */) = 0',
];

describe('exec traces', () => {
  it('reads the argv of an execve line', () => {
    expect(execArgv(PASS[0]!)).toBe('ip -j -d addr show');
    expect(execArgv(ADD[0]!)).toBe('bridge fdb append 02:00:00:00:00:01 dev lo dst 198.51.100.9');
    expect(execArgv('--- SIGCHLD {si_signo=SIGCHLD} ---')).toBe('');
  });

  it("tells the safety pass's whole dumps from the reads and writes a change causes", () => {
    for (const line of PASS.slice(0, 3)) expect(holdsSafetyPass([execArgv(line)]), line).toBe(true);
    expect(holdsSafetyPass(ADD.map(execArgv))).toBe(false);
    expect(holdsSafetyPass(['nsenter --net=/run/netns/x ip -j -d addr show'])).toBe(true);
    expect(holdsSafetyPass([])).toBe(false);
  });
});
