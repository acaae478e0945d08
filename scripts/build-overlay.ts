/**
 * Build `overlay` (the CLI and the daemon) as ONE self-contained executable
 * with Bun, like the CNI plugin (build-cni.sh): a host needs no Node.js, npm
 * or compiler. Run by Bun: `bun scripts/build-overlay.ts <outfile>`.
 *
 * classic-level (level's storage) is a Node-API addon, which Bun loads. Its
 * loader finds the .node file at run time (node-gyp-build), which a bundler
 * cannot follow, so the loader is replaced by a static require of the Linux
 * x64 glibc build: Bun then embeds that file in the executable and loads it
 * from there. raw-socket is not bundled: it is a NAN addon that Bun cannot
 * load (src/sys/icmp-socket.ts), and the executable probes through libc.
 */
declare const Bun: {
  build(o: Record<string, unknown>): Promise<{ success: boolean; logs: unknown[] }>;
};

const outfile = process.argv[2] ?? 'dist/overlay';
const classicLevelBinding = {
  name: 'classic-level-static-binding',
  setup(build: { onLoad(o: { filter: RegExp }, cb: () => { contents: string; loader: string }): void }) {
    build.onLoad({ filter: /[\\/]classic-level[\\/]binding\.js$/ }, () => ({
      contents: "module.exports = require('./prebuilds/linux-x64/classic-level.node');",
      loader: 'js',
    }));
  },
};

const r = await Bun.build({
  entrypoints: ['src/cli/main.ts'],
  compile: { outfile, autoloadDotenv: false, autoloadBunfig: false },
  minify: true,
  bytecode: true,
  format: 'esm',
  target: 'bun',
  external: ['raw-socket'],
  plugins: [classicLevelBinding],
});
if (!r.success) {
  for (const l of r.logs) console.error(l);
  process.exit(1);
}
