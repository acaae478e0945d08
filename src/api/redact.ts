/**
 * A safety net for `overlay report`, which any local user may read: whatever a
 * layer puts in it, fields that name a secret are dropped. Layers are meant to
 * leave secrets out anyway; this makes a slip harmless.
 */
const SECRET_KEY = /password|passphrase|secret|private|psk|^key$|token/i;

export function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return Buffer.isBuffer(value) ? '[bytes]' : value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!SECRET_KEY.test(k)) out[k] = withoutSecrets(v);
  return out;
}
