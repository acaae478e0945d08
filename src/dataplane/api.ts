/**
 * The data plane's HTTP routes: parse and check the request, call the domain, and map its
 * error kinds to status codes. Nothing else in src/dataplane knows of HTTP.
 */
import { ApiError, optionalBoolean, optionalString, type ApiRouter } from '../api/http.js';
import { IpamError } from '../ipam/ipam.js';
import { ipamApiError } from '../ipam/api-errors.js';
import { checkNetworkNamespace, NotANetworkNamespace } from '../sys/netns-file.js';
import { DataplaneError, type DataplaneErrorKind } from './errors.js';
import { HOST_VETH_RE, RETIRED_RE } from './names.js';
import type { PortService } from './port-service.js';
import type { AttachedEntry } from './cni-attachments.js';

/** What the routes need of the data plane component. */
export interface DataplaneApi {
  expose(subnet: string | undefined, ip: string | undefined, masquerade: boolean): Promise<{ address: string; subnet: string }>;
  hide(cidr?: string): Promise<string[]>;
  statusJson(): unknown;
  statusText(): string;
  timeAdmit<T>(fn: () => Promise<T>): Promise<T>;
  attached(): Promise<AttachedEntry[]>;
}

const STATUS: Record<DataplaneErrorKind, number> = { 'bad-request': 400, 'not-found': 404, conflict: 409 };

/** Domain errors to HTTP: the one place that knows both. */
async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof IpamError) throw ipamApiError(e);
    if (e instanceof DataplaneError) throw new ApiError(STATUS[e.kind], e.message);
    throw e;
  }
}

/** A bare name means /run/netns/<name> (what `ip netns add` creates). */
function netnsPath(arg: string): string {
  if (arg.includes('/')) return arg;
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(arg) || arg === '.' || arg === '..') throw new ApiError(400, `bad network namespace name "${arg}"`);
  return `/run/netns/${arg}`;
}

export function dataplaneRoutes(api: ApiRouter, dp: DataplaneApi, ports: PortService): void {
  const str = optionalString;
  const ifnameOf = (body: unknown) => {
    const n = str(body, 'ifname') ?? 'ethwe';
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(n)) throw new ApiError(400, `bad interface name "${n}"`);
    return n;
  };
  const netnsOf = (body: unknown) => {
    const n = str(body, 'netns');
    if (!n) throw new ApiError(400, '"netns" is required (a name in /run/netns or a path)');
    return netnsPath(n);
  };
  // Only a real network namespace may be attached or admitted: the path goes to the kernel as root.
  const checkedNetnsOf = (body: unknown) => {
    const path = netnsOf(body);
    try {
      checkNetworkNamespace(path);
    } catch (e) {
      if (e instanceof NotANetworkNamespace) throw new ApiError(400, e.message, 'not a network namespace');
      throw e;
    }
    return path;
  };
  api.add('POST', '/expose', 'mutate', async ({ body }) => {
    const masq = optionalBoolean(body, 'masquerade');
    return { json: await mapped(() => dp.expose(str(body, 'subnet'), str(body, 'ip'), masq !== false)) };
  });
  api.add('POST', '/hide', 'mutate', async ({ body }) => ({ json: { hidden: await mapped(() => dp.hide(str(body, 'cidr'))) } }));
  api.add('POST', '/attach', 'mutate', async ({ body }) => {
    const multicastRoute = optionalBoolean(body, 'multicastRoute');
    return { json: await mapped(() => ports.attachNetns(checkedNetnsOf(body), ifnameOf(body), str(body, 'subnet'), str(body, 'ip'), multicastRoute !== false)) };
  });
  api.add('POST', '/detach', 'mutate', async ({ body }) => ({ json: await mapped(() => ports.detachNetns(netnsOf(body), ifnameOf(body))) }));
  api.add('GET', '/status/dataplane', 'read', ({ wantsJson }) => (wantsJson ? { json: dp.statusJson() } : { text: dp.statusText() }));
  api.add('GET', '/ps', 'read', async ({ wantsJson }) => {
    const list = await dp.attached();
    if (wantsJson) return { json: list };
    return { text: list.map((e) => `${e.id} ${e.ifname} ${e.mac} ${e.addresses.join(' ')}`).join('\n') + (list.length ? '\n' : '') };
  });
  // The CNI plugin's ADD and DEL: the daemon decides and owns (and restores) the port's rules; the plugin plugs it in.
  const ownerOf = (body: unknown) => {
    const o = str(body, 'owner');
    if (!o) throw new ApiError(400, '"owner" is required (<container id>:<interface>)');
    return o;
  };
  api.add('POST', '/ports/admit', 'mutate', async ({ body }) => {
    // The body's shape first, then the netns path (which touches the filesystem).
    const isolate = optionalBoolean(body, 'isolate');
    const gateway = optionalBoolean(body, 'gateway') === true;
    const req = { netns: checkedNetnsOf(body), ifname: ifnameOf(body), subnet: str(body, 'subnet'), ip: str(body, 'ip'), mac: str(body, 'mac'), isolate: isolate !== false, gateway };
    return { json: await dp.timeAdmit(() => mapped(() => ports.admit(ownerOf(body), req))) };
  });
  api.add('POST', '/ports/release', 'mutate', async ({ body }) => {
    const hostVeth = str(body, 'hostVeth');
    if (hostVeth !== undefined && !HOST_VETH_RE.test(hostVeth)) throw new ApiError(400, '"hostVeth" must name a port this project created (ovl + 12 hex digits)');
    const retired = str(body, 'retired');
    if (retired !== undefined && !RETIRED_RE.test(retired)) throw new ApiError(400, '"retired" must name a retired port (ovr + 12 hex digits)');
    return { json: await mapped(() => ports.release(ownerOf(body), hostVeth, retired)) };
  });
}
