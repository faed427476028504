/**
 * Bundles the browser front ends (web/widget, web/desk) with esbuild into dist/web/ with a
 * content hash in each file name, writes dist/web/manifest.json (what the hub serves, see
 * src/transport/http/web.router.ts) and fails when the widget, Socket.IO client included, is
 * over its gzip budget. Run from the repository root: `node dist/tools/build-web.js`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The widget's whole budget, gzipped, including the Socket.IO client (issue 16). */
export const WIDGET_GZIP_BUDGET = 40 * 1024;

export interface ManifestEntry {
  /** File name under dist/web/ (served at /web/<file>). */
  file: string;
  bytes: number;
  gzipBytes: number;
  /** The stylesheet, for bundles that have one (the desk). */
  css?: { file: string; bytes: number; gzipBytes: number };
}
export type WebManifest = Partial<Record<'widget' | 'desk', ManifestEntry>>;

const root = process.cwd();
const outDir = join(root, 'dist', 'web');

const hashOf = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex').slice(0, 12);

/** Writes `bytes` as `<name>.<hash>.<ext>` and answers its manifest fields. */
function emit(name: string, ext: string, bytes: Uint8Array): { file: string; bytes: number; gzipBytes: number } {
  const file = `${name}.${hashOf(bytes)}.${ext}`;
  writeFileSync(join(outDir, file), bytes);
  return { file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
}

async function bundle(entry: string): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    platform: 'browser',
    write: false,
    legalComments: 'none',
    // JSON files (the widget's translations) are bundled as objects; no eval, no new Function.
    loader: { '.json': 'json', '.css': 'css' },
    logLevel: 'warning',
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error(`esbuild wrote nothing for ${entry}`);
  const text = out.text;
  if (/\beval\(|new Function\(/.test(text)) throw new Error(`${entry}: the bundle uses eval or new Function, which a strict CSP forbids`);
  return out.contents;
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const manifest: WebManifest = {};
  for (const name of ['widget', 'desk'] as const) {
    const entry = join(root, 'web', name, 'main.ts');
    if (!existsSync(entry)) {
      console.log(`web: ${name}: ${entry} does not exist yet, skipped`);
      continue;
    }
    const js = emit(name, 'js', await bundle(entry));
    const entryManifest: ManifestEntry = { ...js };
    const cssPath = join(root, 'web', name, `${name}.css`);
    if (existsSync(cssPath)) entryManifest.css = emit(name, 'css', await bundleCss(cssPath));
    manifest[name] = entryManifest;
    console.log(`web: ${name}: ${js.file} ${kb(js.bytes)}, ${kb(js.gzipBytes)} gzipped${entryManifest.css ? `; ${entryManifest.css.file} ${kb(entryManifest.css.gzipBytes)} gzipped` : ''}`);
  }
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const widget = manifest.widget;
  if (widget && widget.gzipBytes > WIDGET_GZIP_BUDGET) {
    console.error(`web: the widget is ${widget.gzipBytes} bytes gzipped (Socket.IO client included), over its budget of ${WIDGET_GZIP_BUDGET}`);
    process.exit(1);
  }
  if (widget) console.log(`web: widget budget: ${widget.gzipBytes} of ${WIDGET_GZIP_BUDGET} bytes gzipped`);
}

async function bundleCss(path: string): Promise<Uint8Array> {
  const result = await build({ entryPoints: [path], bundle: true, minify: true, write: false, logLevel: 'warning', target: 'es2020' });
  const out = result.outputFiles[0];
  if (!out) throw new Error(`esbuild wrote nothing for ${path}`);
  return out.contents;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
