import type { Random } from '../lib/random.js';

/**
 * Jittered exponential backoff: base, 2·base, 4·base … capped at max, each
 * scaled by a random factor in [0.75, 1.25) so that peers that lost each other
 * at the same moment do not all redial in lock-step.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: Random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exp * (0.75 + 0.5 * random()));
}
