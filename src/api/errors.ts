import { ApiError } from './http.js';
import type { IpamError, IpamErrorKind } from '../ipam/ipam.js';
/** The daemon could not be reached: not running, not answering, or the connection broke. */
export class DaemonUnreachable extends Error {}

/** IPAM's refusals as HTTP: the one place their kinds meet status codes. */
export function ipamApiError(e: IpamError): ApiError {
  return new ApiError(IPAM_STATUS[e.kind], e.message);
}

const IPAM_STATUS: Record<IpamErrorKind, number> = { 'bad-request': 400, 'not-found': 404, conflict: 409, unavailable: 503 };
