/**
 * Every `overlay` command: its arguments, its flags (each with its help
 * text) and an example. The parser, `overlay <command> --help`, `overlay
 * help` and the bash completion all read this one table, so none of them can
 * drift from the others. Pure data: main.ts binds each command to the code
 * that runs it.
 */
import type { FlagSpec } from './args.js';
import { LAUNCH_FLAGS, LOCATION_FLAGS } from '../daemon/config.js';

export interface CommandSpec {
  /** Arguments after the command name, as shown in usage. */
  args: string;
  summary: string;
  /** Longer explanation for `--help`, when the summary is not enough. */
  details?: string;
  flags: FlagSpec;
  examples: string[];
  /** Completions for positional arguments (bash), when there is a fixed set. */
  words?: string[];
}

const JSON_FLAG: FlagSpec = { json: { type: 'boolean', help: 'print JSON instead of text' } };

export const COMMANDS = {
  launch: {
    args: '[options] [peer ...]',
    summary: 'start the router daemon; peers are host or host:port',
    details: 'Returns as soon as the daemon answers on its API socket, printing the peer name. With --foreground the daemon runs in this process (systemd uses this, and is told when the API is up).',
    flags: LAUNCH_FLAGS,
    examples: ['overlay launch 198.51.100.2 198.51.100.3', 'OVERLAY_PASSWORD=s3cret overlay launch --ipalloc-range 10.40.0.0/16 h2.example'],
  },
  status: {
    args: '[peers|connections|targets|ipam|dataplane]',
    summary: "show the daemon's state, or one part of it",
    flags: { ...LOCATION_FLAGS, ...JSON_FLAG },
    examples: ['overlay status', 'overlay status dataplane', 'overlay status ipam --json'],
    words: ['peers', 'connections', 'targets', 'ipam', 'dataplane'],
  },
  expose: {
    args: '[net:CIDR | ip:CIDR]',
    summary: 'give this host an address on the overlay (in the default subnet, or the one given)',
    details: 'Waits for IPAM when needed, printing what it waits for.',
    flags: { ...LOCATION_FLAGS, 'without-masquerade': { type: 'boolean', help: 'do not NAT the subnet\'s traffic to the outside world' } },
    examples: ['overlay expose', 'overlay expose net:10.32.1.0/24'],
  },
  hide: {
    args: '[CIDR]',
    summary: 'undo expose (every exposed subnet when none is given)',
    flags: LOCATION_FLAGS,
    examples: ['overlay hide', 'overlay hide 10.32.1.0/24'],
  },
  attach: {
    args: '<netns> [net:CIDR | ip:CIDR]',
    summary: 'put a network namespace (a path or a name in /run/netns) on the overlay',
    details: 'Waits for IPAM when needed, printing what it waits for, and prints the address given.',
    flags: {
      ...LOCATION_FLAGS,
      ifname: { type: 'string', value: 'NAME', help: 'the interface inside the namespace [ethwe]' },
      'no-multicast-route': { type: 'boolean', help: 'give the namespace no 224.0.0.0/4 route (multicast then follows its default route, if any)' },
    },
    examples: ['overlay attach /run/netns/app1', 'overlay attach app1 ip:10.32.1.7/24'],
  },
  detach: {
    args: '<netns>',
    summary: 'take a network namespace off the overlay and release its address',
    flags: { ...LOCATION_FLAGS, ifname: { type: 'string', value: 'NAME', help: 'the interface inside the namespace [ethwe]' } },
    examples: ['overlay detach app1'],
  },
  rmpeer: {
    args: '<name|nickname>...',
    summary: 'take over the address space of peers that are gone for good',
    details:
      'Refused while a peer was seen alive less than a heartbeat timeout ago. A peer that is only cut off by a partition keeps its addresses; those handed out again here are reported as conflicts on both sides once they meet. ' +
      'A majority of the other space owners must answer; when most owners are dead, name them all in one command: those named are not counted.',
    flags: { ...LOCATION_FLAGS, force: { type: 'boolean', help: 'remove it even if it was seen alive less than a heartbeat timeout ago' } },
    examples: ['overlay rmpeer h3', 'overlay rmpeer h3 h4 h5'],
  },
  ps: {
    args: '',
    summary: 'the containers attached on this host: id, interface, MAC, addresses',
    flags: { ...LOCATION_FLAGS, ...JSON_FLAG },
    examples: ['overlay ps'],
  },
  report: {
    args: '',
    summary: "every layer's whole state as JSON (attach it to bug reports)",
    flags: LOCATION_FLAGS,
    examples: ['overlay report > report.json'],
  },
  'setup-cni': {
    args: '[options]',
    summary: 'install the CNI plugin and write a conflist for one network',
    flags: {
      ...LOCATION_FLAGS,
      'bin-dir': { type: 'string', value: 'DIR', help: 'where the plugin goes [/opt/cni/bin]' },
      'conf-dir': { type: 'string', value: 'DIR', help: 'where the conflist goes; Nomad reads /opt/cni/config [/etc/cni/net.d]' },
      name: { type: 'string', value: 'NAME', help: 'the network name [overlay]' },
      subnet: { type: 'string', value: 'CIDR', help: "the network's subnet [the daemon's default subnet]" },
      portmap: { type: 'boolean', help: 'chain the reference portmap plugin (published ports)' },
      'no-gateway': { type: 'boolean', help: 'do not make the host the network\'s gateway (by default it is exposed on the subnet, with masquerade, at the first ADD)' },
      'no-multicast-route': { type: 'boolean', help: 'give containers no 224.0.0.0/4 route' },
    },
    examples: ['overlay setup-cni --name tenant-a --subnet 10.32.1.0/24 --portmap', 'overlay setup-cni --conf-dir /opt/cni/config'],
  },
  connect: {
    args: '<peer> ...',
    summary: 'add peers to connect to (or replace the list)',
    flags: { ...LOCATION_FLAGS, replace: { type: 'boolean', help: 'replace the target list instead of adding to it' } },
    examples: ['overlay connect 198.51.100.4', 'overlay connect --replace h1 h2'],
  },
  forget: {
    args: '<peer> ...',
    summary: 'remove peers from the target list',
    flags: LOCATION_FLAGS,
    examples: ['overlay forget 198.51.100.4'],
  },
  stop: {
    args: '',
    summary: 'stop the daemon, keep its state (wireguard-go keeps running)',
    flags: LOCATION_FLAGS,
    examples: ['overlay stop'],
  },
  reset: {
    args: '',
    summary: 'stop the daemon and remove its devices, rules and state',
    flags: LOCATION_FLAGS,
    examples: ['overlay reset'],
  },
  'gen-password': {
    args: '',
    summary: 'print a strong random password (for --password-file or OVERLAY_PASSWORD)',
    flags: {},
    examples: ['overlay gen-password > /etc/overlay/password && chmod 600 /etc/overlay/password'],
  },
  completion: {
    args: 'bash',
    summary: 'print the bash completion script',
    flags: {},
    examples: ['overlay completion bash > /etc/bash_completion.d/overlay'],
    words: ['bash'],
  },
  version: {
    args: '',
    summary: 'print the version',
    flags: {},
    examples: ['overlay version'],
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function commandSpec(name: string): CommandSpec | undefined {
  return Object.hasOwn(COMMANDS, name) ? (COMMANDS as Record<string, CommandSpec>)[name] : undefined;
}
