/** A seedable PRNG (mulberry32) so simulations replay exactly from a printed seed. */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(rand: Random, maxExclusive: number): number {
  return Math.floor(rand() * maxExclusive);
}

export function pick<T>(rand: Random, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from empty list');
  return items[randomInt(rand, items.length)]!;
}

export function shuffle<T>(rand: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(rand, i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
