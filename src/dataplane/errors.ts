/**
 * The attach path's errors, in a module with no imports, so the CNI plugin and the
 * daemon recognise them alike (the daemon maps the plugin's plug failures to them).
 */
export class NetnsNotFoundError extends Error {
  constructor(netns: string) {
    super(`network namespace ${netns} does not exist`);
    this.name = 'NetnsNotFoundError';
  }
}

export class InterfaceExistsError extends Error {
  constructor(netns: string, ifname: string) {
    super(`interface ${ifname} already exists in ${netns}`);
    this.name = 'InterfaceExistsError';
  }
}

/** What went wrong, as a kind: the API edge (api.ts) turns it into a status code. */
export type DataplaneErrorKind = 'bad-request' | 'not-found' | 'conflict';

export class DataplaneError extends Error {
  constructor(
    readonly kind: DataplaneErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'DataplaneError';
  }
}
