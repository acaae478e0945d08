/** The daemon could not be reached: not running, not answering, or the connection broke. */
export class DaemonUnreachable extends Error {}
