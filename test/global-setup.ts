/**
 * Vitest global setup: regenerate the onnxruntime host's bundled source (scripts/build-host.mjs) so a
 * plain `npx vitest` runs the host built from the current sources, as `npm test` does.
 */
export default async function setup(): Promise<void> {
  // @ts-expect-error — a plain .mjs build script without type declarations
  const { buildHost } = (await import('../scripts/build-host.mjs')) as { buildHost: () => boolean };
  buildHost();
}
