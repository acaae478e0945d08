/**
 * CNI error codes (SPEC.md "Error" section) and the error type every command
 * throws. main.ts turns a CniError into the JSON object the runtime expects on
 * stdout; anything else becomes code 999 so the runtime still gets JSON.
 */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  ContainerUnknown: 3,
  InvalidEnv: 4,
  Io: 5,
  Decode: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  /** STATUS: cannot service ADD requests. */
  PluginNotAvailable: 50,
  /** STATUS: not available, and existing containers may have limited connectivity. */
  PluginNotAvailableLimitedConnectivity: 51,
  // 100+ are plugin specific.
  /** ADD: CNI_IFNAME already exists inside the container's netns. */
  InterfaceExists: 100,
  /** CHECK: the container's attachment differs from what ADD returned. */
  CheckFailed: 101,
  /** Anything not classified (a bug). */
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    const out: { cniVersion: string; code: number; msg: string; details?: string } = {
      cniVersion,
      code: this.code,
      msg: this.message,
    };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Wrap an unknown throwable, keeping CniErrors as they are. */
export function asCniError(err: unknown, fallbackCode: number = ErrorCode.Internal): CniError {
  if (err instanceof CniError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new CniError(fallbackCode, msg);
}
