import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router, type Request, type Response } from 'express';

/** dist/web, beside this module's dist/src/transport/http/. */
export const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');

interface Asset { file: string; bytes: number; gzipBytes: number }
interface Manifest { widget?: Asset; desk?: Asset & { css?: Asset } }

/** The pages the hub serves: no inline script or style, only its own origin (and its sockets). */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const NOT_BUILT = 'web assets not built: run npm run build';

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The browser front ends (tools/build-web.ts writes them to dist/web with a manifest):
 * GET /web/<file> (content-hashed, cached for a year), GET /widget.js (the current widget,
 * cached for five minutes, so a site's one script tag picks up a new build), GET /desk (the
 * agent desk's page) and GET /demo (a page with the widget's script tag). The manifest is
 * read again when its file changes, so a rebuild is served without a restart.
 */
export function webRouter(webDir: string = WEB_DIR): Router {
  const router = Router();
  let loaded: { mtimeMs: number; manifest: Manifest; widgetEtag?: string; files: Map<string, Buffer> } | undefined;

  const manifest = (): Manifest | undefined => {
    const path = join(webDir, 'manifest.json');
    let mtimeMs: number;
    try {
      mtimeMs = statSync(path).mtimeMs;
    } catch {
      loaded = undefined;
      return undefined;
    }
    if (!loaded || loaded.mtimeMs !== mtimeMs) {
      let parsed: Manifest;
      try {
        parsed = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
      } catch {
        // Being rewritten by a build: not there yet.
        loaded = undefined;
        return undefined;
      }
      loaded = { mtimeMs, manifest: parsed, files: new Map() };
      if (parsed.widget) loaded.widgetEtag = `"${createHash('sha256').update(parsed.widget.file).digest('hex').slice(0, 16)}"`;
    }
    return loaded.manifest;
  };

  /** A manifest file's bytes, read once per build (only the manifest's few files are ever kept). */
  const asset = (file: string): Buffer => {
    let bytes = loaded?.files.get(file);
    if (!bytes) {
      bytes = readFileSync(join(webDir, file));
      loaded?.files.set(file, bytes);
    }
    return bytes;
  };

  const notBuilt = (res: Response, what = NOT_BUILT): void => {
    res.status(404).type('text/plain').send(what);
  };

  const page = (res: Response, html: string): void => {
    res
      .status(200)
      .set({ 'Content-Security-Policy': PAGE_CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache', 'Referrer-Policy': 'no-referrer' })
      .type('html')
      .send(html);
  };

  router.get('/web/:file', (req: Request, res: Response) => {
    const m = manifest();
    if (!m) return notBuilt(res);
    const file = String(req.params.file);
    const known = [m.widget?.file, m.desk?.file, m.desk?.css?.file].filter((f): f is string => typeof f === 'string');
    if (!known.includes(file)) return notBuilt(res, 'no such web asset');
    res.set({ 'Cache-Control': 'public, max-age=31536000, immutable', 'X-Content-Type-Options': 'nosniff', 'Access-Control-Allow-Origin': '*' });
    res.type(file.endsWith('.css') ? 'text/css' : 'text/javascript').send(asset(file));
  });

  router.get('/widget.js', (req: Request, res: Response) => {
    const m = manifest();
    if (!m?.widget || !loaded?.widgetEtag) return notBuilt(res);
    // Any site embeds it: readable cross-origin, revalidated every five minutes by ETag.
    res.set({ 'Cache-Control': 'public, max-age=300', ETag: loaded.widgetEtag, 'X-Content-Type-Options': 'nosniff', 'Access-Control-Allow-Origin': '*' });
    if (req.get('if-none-match') === loaded.widgetEtag) return void res.status(304).end();
    res.type('text/javascript').send(asset(m.widget.file));
  });

  router.get('/desk', (_req: Request, res: Response) => {
    const m = manifest();
    if (!m?.desk) return notBuilt(res, m ? 'the desk is not built: run npm run build' : NOT_BUILT);
    const css = m.desk.css ? `\n<link rel="stylesheet" href="/web/${escapeAttr(m.desk.css.file)}">` : '';
    page(res, htmlPage('Agent desk', `${css}\n<script defer src="/web/${escapeAttr(m.desk.file)}"></script>`, '<div id="desk"></div>'));
  });

  router.get('/demo', (req: Request, res: Response) => {
    const m = manifest();
    if (!m?.widget) return notBuilt(res);
    const hub = `${req.protocol}://${req.host}`;
    page(
      res,
      htmlPage(
        'Chat widget demo',
        '',
        `<main>
<h1>Chat widget demo</h1>
<p>This page embeds the hub's web chat widget with one script tag (see the README, "Web widget"). Open the chat with the button at the bottom right; answer as an agent in the <a href="/desk">agent desk</a>.</p>
<pre><code>&lt;script src="${escapeAttr(hub)}/widget.js" async
        data-channel="web" data-prechat="name,email"&gt;&lt;/script&gt;</code></pre>
</main>
<script src="/widget.js" data-hub="${escapeAttr(hub)}" data-channel="web" data-prechat="name,email" async></script>`,
      ),
    );
  });

  return router;
}

/** An HTML page of the hub's own (no inline script or style: the CSP allows neither). */
function htmlPage(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>${head}
</head>
<body>
${body}
</body>
</html>
`;
}
