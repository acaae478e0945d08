import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkNetworkNamespace, NotANetworkNamespace } from '../../../src/sys/netns-file.js';

describe('network namespace path check', () => {
  it('accepts our own network namespace, through the magic link and through a symlink to it', () => {
    expect(() => checkNetworkNamespace('/proc/self/ns/net')).not.toThrow();
    expect(() => checkNetworkNamespace(`/proc/${process.pid}/ns/net`)).not.toThrow();
    const link = join(mkdtempSync(join(tmpdir(), 'ovns')), 'ns');
    symlinkSync(`/proc/${process.pid}/ns/net`, link);
    expect(() => checkNetworkNamespace(link)).not.toThrow();
  });

  it.each([
    ['/etc/passwd', /ordinary file system/],
    ['/tmp', /directory/],
    ['/no/such/path', /network namespace \/no\/such\/path does not exist/],
    ['/proc/self/ns/mnt', /a mnt namespace, not a network namespace/],
    ['/proc/self/ns/user', /a user namespace, not a network namespace/],
    ['netns-name', /not an absolute path/],
  ])('refuses %s', (path, msg) => {
    expect(() => checkNetworkNamespace(path)).toThrow(NotANetworkNamespace);
    expect(() => checkNetworkNamespace(path)).toThrow(msg);
  });
});
