/**
 * The peer's persisted identity and targets: the name is random on first
 * launch and then kept, and the targets survive stop/launch.
 */
import { randomPeerName, type PeerName } from '../lib/peer-name.js';
import type { Store } from '../store/store.js';

const NAME_KEY = 'mesh/name';
const TARGETS_KEY = 'mesh/targets';

export async function loadOrCreateName(store: Store, requested?: PeerName): Promise<PeerName> {
  const stored = await store.get<PeerName>(NAME_KEY);
  const name = requested ?? stored ?? randomPeerName();
  if (name !== stored) await store.put(NAME_KEY, name);
  return name;
}

export async function loadTargets(store: Store): Promise<string[]> {
  return (await store.get<string[]>(TARGETS_KEY)) ?? [];
}

export async function saveTargets(store: Store, targets: string[]): Promise<void> {
  await store.put(TARGETS_KEY, targets);
}
