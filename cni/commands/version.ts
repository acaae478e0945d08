import { LATEST_VERSION, SUPPORTED_VERSIONS, isSupportedVersion } from '../spec/versions.js';
import { PLUGIN_NAME, PLUGIN_VERSION } from '../defaults.js';

/**
 * VERSION: stdin may carry {"cniVersion": ...}; we answer in that version when
 * we know it, in the latest otherwise, and never fail on its content.
 */
export function cmdVersion(stdin: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
  } catch {
    v = undefined;
  }
  return { cniVersion: isSupportedVersion(v) ? v : LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/**
 * Printed with no CNI_COMMAND. Nomad fingerprints plugins by the first line,
 * so it keeps the reference plugins' shape "CNI <name> plugin v<version>".
 */
export function aboutText(): string {
  return `CNI ${PLUGIN_NAME} plugin v${PLUGIN_VERSION}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`;
}
