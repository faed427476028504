import express, { type Express } from 'express';

/** A route the Express app answers: method and path in OpenAPI form (`:id` written `{id}`). */
export interface RouteEntry {
  method: string;
  path: string;
}

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean | undefined> };
  handle: { stack?: Layer[] };
  rawPath?: unknown;
}

/**
 * Runs `start` and returns, with its value, the Express apps created meanwhile. The hub builds its
 * app inside createHub and does not hand it out; every app runs express.application.init when it is
 * created, so a wrapper there sees it.
 */
export async function withExpressApps<T>(start: () => Promise<T>): Promise<{ value: T; apps: Express[] }> {
  const proto = express.application as unknown as { init: (this: Express) => void };
  const original = proto.init;
  const apps: Express[] = [];
  proto.init = function init(this: Express) {
    apps.push(this);
    original.call(this);
  };
  try {
    return { value: await start(), apps };
  } finally {
    proto.init = original;
  }
}

/** OpenAPI form of an Express path; a trailing slash is dropped, as non-strict routing ignores it. */
const templated = (path: string): string => path.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');

/** Every (method, path) an Express 5 app routes, walking mounted routers. */
export function routesOf(app: Express): RouteEntry[] {
  const routes: RouteEntry[] = [];
  const walk = (stack: Layer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? (layer.route.path as unknown[]) : [layer.route.path];
        for (const path of paths) {
          if (typeof path !== 'string') throw new Error(`a route path that is not a string: ${String(path)}`);
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on) routes.push({ method: method === '_all' ? 'ALL' : method.toUpperCase(), path: templated(prefix + path) });
          }
        }
      } else if (layer.handle.stack) {
        if (typeof layer.rawPath !== 'string') throw new Error(`a router mounted at a path that is not a string: ${String(layer.rawPath)}`);
        walk(layer.handle.stack, prefix + (layer.rawPath === '/' ? '' : layer.rawPath));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return routes;
}

/** Does route `route` (with `{x}` segments) answer the documented `method path`? */
export function routeAnswers(route: RouteEntry, method: string, path: string): boolean {
  if (route.method !== method && route.method !== 'ALL') return false;
  const pattern = new RegExp(`^${route.path.split(/\{\w+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`);
  return pattern.test(path);
}
