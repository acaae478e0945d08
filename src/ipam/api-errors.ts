/** The API edge's view of IPAM refusals: each kind of refusal as an HTTP status. */
import { ApiError } from '../api/http.js';
import { IpamError, type IpamErrorKind } from './ipam.js';

const STATUS: Record<IpamErrorKind, number> = { invalid: 400, 'not-found': 404, conflict: 409, unavailable: 503 };

/** An IPAM refusal as the API answers it; anything else unchanged. */
export function ipamApiError(e: unknown): unknown {
  return e instanceof IpamError ? new ApiError(STATUS[e.kind], e.message) : e;
}
