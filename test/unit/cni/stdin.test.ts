import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { readBounded } from '../../../cni/stdin.js';
import { CniError } from '../../../cni/spec/errors.js';

describe('readBounded', () => {
  it('joins chunks up to the limit', async () => {
    expect(await readBounded(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 4)).toBe('abcd');
  });
  it('refuses more than the limit with code 6', async () => {
    const err = await readBounded(Readable.from([Buffer.alloc(3), Buffer.alloc(3)]), 5).catch((e) => e);
    expect(err).toBeInstanceOf(CniError);
    expect(err.code).toBe(6);
    expect(err.message).toContain('5 bytes');
  });
});
