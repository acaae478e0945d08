import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

describe('README', () => {
  it('starts with the two commands: the demo and the tests', () => {
    const first = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(readme.indexOf('```sh')).toBeLessThan(readme.indexOf('\n## '));
    expect(first.split('\n').filter(Boolean).map((l) => l.split('#')[0]!.trim())).toEqual(['bash scripts/demo.sh', 'bash scripts/test.sh']);
  });

  it('shows only pictures that are in the repository', () => {
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(0);
    for (const path of images) {
      expect(path, 'a relative link, so it shows on a fresh clone and on GitHub').toMatch(/^docs\/[\w.-]+\.svg$/);
      expect(existsSync(new URL(path, root)), `${path} exists`).toBe(true);
    }
  });
});
