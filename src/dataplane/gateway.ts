/**
 * Gateways on demand. A CNI network that asks for a gateway (`"gateway": true`,
 * what `overlay setup-cni` writes unless told `--no-gateway`) gets this host
 * exposed on the network's subnet, with masquerade, when its first container
 * is admitted here: the container then has a default route via the host and
 * a way out, and the host (health checks, say) reaches it, with nothing done
 * by hand. Weave's plugin gave its bridge an address at the first ADD the same way.
 *
 * An exposure that exists already is left as it is (a host exposed by hand
 * without masquerade stays so). Admissions racing for the same subnet share
 * one expose. Isolation is unchanged: a host exposed on several subnets still
 * does not route between them (isolation.ts, port-filter.ts).
 */
export interface Exposures {
  isExposed(subnet: string): boolean;
  expose(subnet: string): Promise<unknown>;
}

export class GatewaysOnDemand {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly exposures: Exposures) {}

  /** Resolves once the host is exposed on `subnet` (canonical CIDR). */
  ensure(subnet: string): Promise<void> {
    if (this.exposures.isExposed(subnet)) return Promise.resolve();
    let run = this.inFlight.get(subnet);
    if (!run) {
      run = this.exposures
        .expose(subnet)
        .then(() => undefined)
        .finally(() => this.inFlight.delete(subnet));
      this.inFlight.set(subnet, run);
    }
    return run;
  }
}
