import { describe, expect, it } from 'vitest';
import { readBounded } from '../../../cni/stdin.js';
import { CniError } from '../../../cni/spec/errors.js';

describe('readBounded', () => {
  it('joins chunks up to the limit', () => {
    expect(readBounded([Buffer.from('ab'), Buffer.from('cd')], 4)).toBe('abcd');
  });
  it('refuses more than the limit with code 6, without reading on', () => {
    let read = 0;
    function* chunks() {
      for (let i = 0; i < 10; i++) {
        read++;
        yield Buffer.alloc(3);
      }
    }
    let err: unknown;
    try {
      readBounded(chunks(), 5);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(6);
    expect((err as CniError).message).toContain('5 bytes');
    expect(read).toBe(2);
  });
});
