/**
 * What `attach` and `expose` print while the daemon holds their request
 * waiting for IPAM (up to --ipalloc-wait): one line on stderr whenever what it
 * waits for changes, read from `status ipam`, instead of silence.
 */
interface IpamStatusJson {
  state?: { state: string; quorum?: number; known?: number };
  status?: string;
  askingSpaceFrom?: string;
}

/** One line saying what an allocation waits for, or undefined when IPAM is not what holds it up. */
export function describeWait(s: IpamStatusJson): string | undefined {
  if (s.askingSpaceFrom) return `waiting for space from ${s.askingSpaceFrom}`;
  switch (s.state?.state) {
    case 'awaiting-consensus':
      return `waiting for IPAM consensus: ${s.state.known ?? 0} of ${s.state.quorum ?? '?'} peers`;
    case 'observer-waiting':
      return 'waiting for space from another peer (this one is an observer)';
    case 'split-ring':
    case 'range-mismatch':
      return `waiting: IPAM is stuck: ${s.status}`;
    default:
      return undefined;
  }
}

/**
 * Run `call`; from `afterMs` on, until it settles, poll `ipamStatus` and report
 * each new wait. Polling errors are ignored: the call's own answer is what counts.
 */
export async function withProgress<T>(call: Promise<T>, ipamStatus: () => Promise<IpamStatusJson>, report: (line: string) => void, afterMs = 1_000, everyMs = 1_000): Promise<T> {
  let done = false;
  let last: string | undefined;
  const poll = async () => {
    while (!done) {
      try {
        const line = describeWait(await ipamStatus());
        if (!done && line && line !== last) report(line);
        last = line;
      } catch {
        /* the call itself will say what went wrong */
      }
      await new Promise((r) => setTimeout(r, everyMs).unref());
    }
  };
  const timer = setTimeout(() => void poll(), afterMs);
  timer.unref();
  try {
    return await call;
  } finally {
    done = true;
    clearTimeout(timer);
  }
}
