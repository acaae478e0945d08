/**
 * The project's one NAT table, `ip overlay-nat`, rebuilt whole from the list
 * of exposed subnets (nothing else is ever touched). For each subnet exposed
 * with masquerade:
 *  - containers reaching beyond the overlay leave with the host's address;
 *  - traffic routed into the overlay from outside (another host using this
 *    one as its gateway) arrives from the bridge address, so containers can
 *    answer without a route back.
 */
import { deleteTable, replaceTable } from '../sys/nft.js';

export const NAT_FAMILY = 'ip';
export const NAT_TABLE = 'overlay-nat';

export interface MasqueradedSubnet {
  subnet: string;
}

export function natRules(bridge: string, range: string, subnets: MasqueradedSubnet[]): string {
  const rules = subnets.flatMap(({ subnet }) => [
    `    ip saddr ${subnet} ip daddr != ${range} oifname != "${bridge}" masquerade`,
    `    ip saddr != ${range} ip daddr ${subnet} oifname "${bridge}" masquerade`,
  ]);
  return ['  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', ...rules, '  }'].join('\n');
}

export async function applyNat(bridge: string, range: string, subnets: MasqueradedSubnet[]): Promise<void> {
  if (subnets.length === 0) return deleteTable(NAT_FAMILY, NAT_TABLE);
  await replaceTable(NAT_FAMILY, NAT_TABLE, natRules(bridge, range, subnets));
}

export function removeNat(): Promise<void> {
  return deleteTable(NAT_FAMILY, NAT_TABLE);
}
