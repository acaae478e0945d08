/**
 * The encrypted data path: VXLAN between untrusted peers travels inside
 * WireGuard. The VXLAN device keeps addressing peers by their underlay IP; a
 * policy rule sends our VXLAN packets (UDP to the VXLAN port) through a routing
 * table where each encrypted peer's underlay /32 points at the WireGuard
 * device, and WireGuard carries them to that peer's WireGuard port. So no
 * tunnel addresses are needed, trusted peers simply have no route there, and
 * WireGuard's own packets (to another port) never loop back into it. An
 * nftables table drops plain VXLAN from anyone but trusted peers, so nobody
 * can inject frames around the encryption.
 *
 * Kernel WireGuard is used when the kernel has it, `wireguard-go` otherwise.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipToInt, parseNetwork } from '../lib/ipv4.js';
import { run, runUnchecked, SysError } from '../sys/exec.js';
import { ipBatch, link } from '../sys/ip.js';
import { deleteTable, drops, listTableRules, replaceTable, type NftRule } from '../sys/nft.js';

/** Outer IPv4 20 + UDP 8 + WireGuard header and tag 32. */
export const WIREGUARD_OVERHEAD = 60;
/** The routing table (and rule priority) that steers VXLAN into WireGuard. */
export const WIREGUARD_TABLE = 6784;
const GUARD_FAMILY = 'inet';
export const GUARD_TABLE = 'overlay-wireguard';

export interface WireguardSettings {
  dev: string;
  /** UDP port WireGuard listens on. */
  port: number;
  /** Underlay subnets whose peers talk plain VXLAN (when both sides list them). */
  trusted: string[];
  /** The private key file, in the data dir, mode 0600. */
  keyFile: string;
}

export interface WireguardPeer {
  publicKey: string;
  /** The peer's underlay IPv4 address: WireGuard endpoint and the only inner address allowed. */
  underlay: string;
  port: number;
}

const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;

export function isWireguardKey(s: unknown): s is string {
  return typeof s === 'string' && KEY_RE.test(s);
}

export function keyFileIn(dataDir: string): string {
  return join(dataDir, 'wireguard.key');
}

/** Our key pair: generated once (X25519, as WireGuard uses) and kept in the data dir. */
export function loadOrCreateKey(keyFile: string): { privateKey: string; publicKey: string } {
  let priv: string;
  if (existsSync(keyFile)) {
    priv = readFileSync(keyFile, 'utf8').trim();
    if (!KEY_RE.test(priv)) throw new Error(`${keyFile} does not hold a WireGuard private key; remove it to make a new one`);
  } else {
    const { privateKey } = generateKeyPairSync('x25519');
    priv = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url').toString('base64');
    writeFileSync(keyFile, priv + '\n', { mode: 0o600 });
  }
  chmodSync(keyFile, 0o600);
  return { privateKey: priv, publicKey: publicKeyOf(priv) };
}

/** PKCS#8 DER header of an X25519 private key; the 32 raw key bytes follow. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function publicKeyOf(privateKey: string): string {
  const der = Buffer.concat([X25519_PKCS8_PREFIX, Buffer.from(privateKey, 'base64')]);
  const pub = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  return Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
}

/** True when `ip` lies in one of the CIDRs. */
export function inSubnets(ip: string, cidrs: readonly string[]): boolean {
  const a = ipToInt(ip);
  return cidrs.some((c) => {
    const n = parseNetwork(c);
    return a >= n.start && a < n.start + n.size;
  });
}

/** Plain VXLAN between two peers only when each one's underlay is in a subnet the other trusts. */
export function isTrustedPair(me: { underlay: string; trusted: readonly string[] }, peer: { underlay: string; trusted?: readonly string[] }): boolean {
  return inSubnets(peer.underlay, me.trusted) && inSubnets(me.underlay, peer.trusted ?? []);
}

export type WireguardImpl = 'kernel' | 'wireguard-go';

/**
 * Make sure the WireGuard device exists; (re)configure its key, port and MTU when it
 * was just made or `configure` asks (at start). Says which implementation runs it.
 */
export async function ensureWireguardDevice(s: WireguardSettings, mtu: number, configure: boolean): Promise<{ impl: WireguardImpl; made: boolean }> {
  const existing = await link(s.dev);
  // wireguard-go's device is a TUN device; the kernel's says "wireguard".
  let impl: WireguardImpl = existing?.linkinfo?.info_kind === 'wireguard' ? 'kernel' : 'wireguard-go';
  if (!existing) {
    try {
      await run('ip', ['link', 'add', 'dev', s.dev, 'type', 'wireguard']);
      impl = 'kernel';
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      // No WireGuard in this kernel: the userspace implementation makes a TUN device and
      // daemonizes itself; it stays up across our restarts and exits when the device is deleted.
      await startWireguardGo(s.dev);
      impl = 'wireguard-go';
    }
  }
  if (!existing || configure) {
    await run('wg', ['set', s.dev, 'private-key', s.keyFile, 'listen-port', String(s.port)]);
    await ipBatch([`link set dev ${s.dev} mtu ${mtu} up`]);
  }
  return { impl, made: !existing };
}

/**
 * Why wireguard-go failed, from what it printed: it logs its errors on stdout
 * ("ERROR: (dev) date time UAPI listen error: ...") and prints a banner on
 * stderr that claims kernel support whether or not the kernel has it, so the
 * banner is dropped and the errors kept.
 */
export function wireguardGoFailure(dev: string, stdout: string, stderr: string): string {
  const errors = `${stdout}\n${stderr}`
    .split('\n')
    .map((l) => /^ERROR: \([^)]*\) \S+ \S+ (.*)$/.exec(l.trim())?.[1])
    .filter((m): m is string => !!m);
  const text = errors.length ? errors.join('; ') : stderr.split('\n').filter((l) => l.trim() && !/[\u2500-\u257f]/.test(l)).join(' ').trim();
  const hint = /unix socket in use/.test(text)
    ? ` (another wireguard-go already serves a device named ${dev} on this machine: its control socket /var/run/wireguard/${dev}.sock is shared by every network namespace; choose another --wireguard-dev)`
    : '';
  return (text || 'it exited without saying why') + hint;
}

async function startWireguardGo(dev: string): Promise<void> {
  const r = await runUnchecked('wireguard-go', [dev], { timeoutMs: 10_000 });
  if (r.failed) throw new SysError(`wireguard-go ${dev}`, wireguardGoFailure(dev, r.stdout, r.stderr), r.exitCode);
}

/** `wg show <dev> dump`: the peers configured now (public key → endpoint, allowed IPs). */
export async function currentPeers(dev: string): Promise<Map<string, { endpoint: string; allowed: string }>> {
  const out = await run('wg', ['show', dev, 'dump']);
  const peers = new Map<string, { endpoint: string; allowed: string }>();
  for (const line of out.split('\n').slice(1)) {
    const f = line.split('\t');
    if (f.length >= 4) peers.set(f[0]!, { endpoint: f[2]!, allowed: f[3]! });
  }
  return peers;
}

/** Bring the device's peer list to exactly `want`, in one `wg set`. Returns the number of changes. */
export async function syncPeers(dev: string, want: readonly WireguardPeer[]): Promise<number> {
  const have = await currentPeers(dev);
  const args: string[] = [];
  const wanted = new Set<string>();
  for (const p of want) {
    wanted.add(p.publicKey);
    const endpoint = `${p.underlay}:${p.port}`;
    const allowed = `${p.underlay}/32`;
    const h = have.get(p.publicKey);
    if (h && h.endpoint === endpoint && h.allowed === allowed) continue;
    args.push('peer', p.publicKey, 'endpoint', endpoint, 'allowed-ips', allowed);
  }
  for (const key of have.keys()) if (!wanted.has(key)) args.push('peer', key, 'remove');
  if (args.length) await run('wg', ['set', dev, ...args]);
  return args.filter((a) => a === 'peer').length;
}

/**
 * The rule sending our VXLAN packets to the WireGuard table, and that table's
 * routes, with our underlay address as source: it is what the peer allows.
 */
export async function syncRouting(dev: string, vxlanPort: number, source: string, encryptedUnderlays: readonly string[]): Promise<number> {
  const lines: string[] = [];
  const rules = await run('ip', ['rule', 'show', 'pref', String(WIREGUARD_TABLE)]);
  if (!rules.includes(`lookup ${WIREGUARD_TABLE}`)) lines.push(`rule add pref ${WIREGUARD_TABLE} ipproto udp dport ${vxlanPort} lookup ${WIREGUARD_TABLE}`);
  // An empty table does not exist yet, and `ip` says so as an error.
  const routes = await run('ip', ['-j', 'route', 'show', 'table', String(WIREGUARD_TABLE)]).catch((e: unknown) => {
    if (e instanceof SysError && /does not exist/.test(e.stderr)) return '';
    throw e;
  });
  const have = new Map(
    (routes.trim() ? (JSON.parse(routes) as { dst: string; dev?: string; prefsrc?: string }[]) : []).map((r) => [r.dst.replace(/\/32$/, ''), r] as const),
  );
  for (const ip of encryptedUnderlays) {
    const r = have.get(ip);
    if (!r || r.dev !== dev || r.prefsrc !== source) lines.push(`route replace ${ip}/32 dev ${dev} src ${source} table ${WIREGUARD_TABLE}`);
  }
  for (const ip of have.keys()) if (!encryptedUnderlays.includes(ip)) lines.push(`route del ${ip}/32 table ${WIREGUARD_TABLE}`);
  if (lines.length) await ipBatch(lines);
  return lines.length;
}

/**
 * Plain VXLAN is accepted only through WireGuard or from trusted peers, and
 * only sent through WireGuard or to trusted peers: if the steering rule or a
 * route went missing, VXLAN to an untrusted peer is dropped, never sent in clear.
 */
export function guardRules(dev: string, vxlanPort: number, trustedPeers: readonly string[]): string {
  const set = trustedPeers.length ? `{ ${trustedPeers.join(', ')} }` : '';
  return [
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    udp dport ${vxlanPort} iifname != "${dev}"${set ? ` ip saddr != ${set}` : ''} drop`,
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    `    udp dport ${vxlanPort} oifname != "${dev}"${set ? ` ip daddr != ${set}` : ''} drop`,
    '  }',
  ].join('\n');
}

/** Whether a rule matches `udp dport <port>` (as `nft -j` lists it). */
function matchesDport(r: NftRule, port: number): boolean {
  return r.expr.some((e) => {
    const m = e['match'] as { left?: { payload?: { field?: string } }; right?: unknown } | undefined;
    return m?.left?.payload?.field === 'dport' && m.right === port;
  });
}

/** Whether the guard table (its rules as listed; undefined: no table) still drops plain VXLAN both ways. */
export function guardIntact(rules: NftRule[] | undefined, vxlanPort: number): boolean {
  return rules !== undefined && rules.filter((r) => drops(r) && matchesDport(r, vxlanPort)).length === 2;
}

/** Install the guard table if it is missing or differs. Returns true when it had to. */
export async function ensureGuard(dev: string, vxlanPort: number, trustedPeers: readonly string[], force: boolean): Promise<boolean> {
  const body = guardRules(dev, vxlanPort, trustedPeers);
  if (!force) {
    if (guardIntact(await listTableRules(GUARD_FAMILY, GUARD_TABLE), vxlanPort)) return false;
  }
  await replaceTable(GUARD_FAMILY, GUARD_TABLE, body);
  return true;
}

/** `overlay reset`: the device (which ends wireguard-go), the rule, the table's routes and the guard. */
export async function removeWireguard(dev: string): Promise<void> {
  await run('ip', ['link', 'del', 'dev', dev]).catch(() => undefined);
  await run('ip', ['rule', 'del', 'pref', String(WIREGUARD_TABLE)]).catch(() => undefined);
  await run('ip', ['route', 'flush', 'table', String(WIREGUARD_TABLE)]).catch(() => undefined);
  await deleteTable(GUARD_FAMILY, GUARD_TABLE);
}
