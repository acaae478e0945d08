/**
 * The attach path's errors, in a module with no imports, so the CNI plugin can
 * recognise them without loading the attach code (and its process runner).
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
