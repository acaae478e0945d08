import { describe, expect, it } from 'vitest';
import { FdbProgrammer } from '../../../src/dataplane/fdb-programmer.js';
import { ZERO_MAC } from '../../../src/dataplane/fdb-plan.js';

const A = '198.51.100.1';
const M = '02:00:00:00:00:0a';

function programmer() {
  const written: string[][] = [];
  const repairs: string[] = [];
  const p = new FdbProgrammer('overlay-vx', (w) => repairs.push(w), async (lines) => void written.push(lines));
  return { p, written, repairs };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('FDB programmer (a model of what it wrote, no dumps)', () => {
  it('writes the same wanted state once; again it writes nothing', async () => {
    const { p, written } = programmer();
    const want = [{ mac: ZERO_MAC, dst: A }, { mac: M, dst: A }];
    expect(await p.program(want)).toBe(2);
    expect(await p.program([...want])).toBe(0);
    expect(written).toHaveLength(1);
  });

  it('its own writes echoing back as events change nothing', async () => {
    const { p, written } = programmer();
    await p.program([{ mac: M, dst: A }]);
    p.observe({ kind: 'fdb', deleted: false, mac: M, dev: 'overlay-vx', dst: A, permanent: true });
    await settle();
    expect(written).toHaveLength(1);
  });

  it('an entry deleted by hand is put back at once, and counted as a repair', async () => {
    const { p, written, repairs } = programmer();
    await p.program([{ mac: M, dst: A }]);
    p.observe({ kind: 'fdb', deleted: true, mac: M, dev: 'overlay-vx', dst: A, permanent: true });
    await settle();
    expect(written[1]).toEqual([`fdb replace ${M} dev overlay-vx dst ${A}`]);
    expect(repairs).toHaveLength(1);
  });

  it('a safety-pass dump replaces the model: what is missing there is written again', async () => {
    const { p, written } = programmer();
    await p.program([{ mac: M, dst: A }]);
    expect(await p.resync([])).toBe(1);
    expect(await p.resync([{ mac: M, ifname: 'overlay-vx', dst: A, flags: ['self'] }])).toBe(0);
    expect(written).toHaveLength(2);
  });
});
