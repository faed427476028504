import type { IncomingMessage } from 'node:http';
import { expect } from 'chai';
import express from 'express';
import { OriginPolicy, requestOrigin } from '../../src/transport/origin-policy.js';
import type { TrustProxy } from '../../src/transport/client-address.js';

/** A request as Node hands it over: headers and the connection's peer (and TLS state). */
const request = (headers: Record<string, string>, remoteAddress = '10.0.0.9', encrypted = false): IncomingMessage =>
  ({ headers, socket: { remoteAddress, encrypted } }) as unknown as IncomingMessage;

/** Express's compiled trust-proxy function for a setting, as the hub's app builds it. */
const trustFn = (setting: boolean | string): TrustProxy => {
  const app = express();
  app.set('trust proxy', setting);
  return app.get('trust proxy fn') as TrustProxy;
};

describe('OriginPolicy (unit)', () => {
  it('allows requests without Origin, listed origins, and * for every origin', () => {
    expect(new OriginPolicy([]).allows(undefined)).to.equal(true);
    expect(new OriginPolicy(['https://shop.example/']).allows('https://shop.example')).to.equal(true);
    expect(new OriginPolicy(['https://shop.example']).allows('https://evil.example')).to.equal(false);
    expect(new OriginPolicy(['*']).allows('https://evil.example')).to.equal(true);
  });

  it('allows a page of the hub itself (Origin equal to the request\'s own origin) even when ALLOWED_ORIGINS is empty', () => {
    const none = new OriginPolicy([]);
    expect(none.allows('http://hub.example:8080', 'http://hub.example:8080')).to.equal(true);
    expect(none.allows('http://HUB.example:8080', 'http://hub.example:8080'), 'host names are case-insensitive').to.equal(true);
    expect(none.allows('http://hub.example:8081', 'http://hub.example:8080'), 'another port is another origin').to.equal(false);
    expect(none.allows('https://hub.example:8080', 'http://hub.example:8080'), 'another scheme is another origin').to.equal(false);
    expect(none.allows('http://hub.example:8080'), 'unknown own origin').to.equal(false);
  });

  it('requestOrigin: Host and the TLS state, X-Forwarded-Proto/Host only from a trusted proxy', () => {
    const forwarded = { host: '10.0.0.2:8080', 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'chat.example, other.example' };
    expect(requestOrigin(request({ host: 'hub.example:8080' }), trustFn(false))).to.equal('http://hub.example:8080');
    expect(requestOrigin(request({ host: 'hub.example' }, '10.0.0.9', true), trustFn(false))).to.equal('https://hub.example');
    // Not trusted: a client cannot make its own Origin "same-origin" with forged headers.
    expect(requestOrigin(request(forwarded), trustFn(false))).to.equal('http://10.0.0.2:8080');
    expect(requestOrigin(request(forwarded, '10.0.0.9'), trustFn('loopback'))).to.equal('http://10.0.0.2:8080');
    // Trusted: the proxy's view, the first (client-side) value of each header.
    expect(requestOrigin(request(forwarded, '127.0.0.1'), trustFn('loopback'))).to.equal('https://chat.example');
    expect(requestOrigin(request(forwarded), trustFn(true))).to.equal('https://chat.example');
    expect(requestOrigin(request({}), trustFn(false)), 'no Host, no origin').to.equal(undefined);
  });

  it('answers what Express computes as req.protocol://req.host for the same request', async () => {
    for (const setting of [false, true, 'loopback'] as const) {
      const app = express();
      app.set('trust proxy', setting);
      const trust = app.get('trust proxy fn') as TrustProxy;
      const seen: string[] = [];
      app.get('/', (req, res) => {
        seen.push(`${req.protocol}://${req.host}`, requestOrigin(req, trust) ?? '');
        res.end();
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      const { port } = server.address() as { port: number };
      await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'chat.example' } });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      expect(seen[1], `trust proxy ${String(setting)}`).to.equal(seen[0]);
    }
  });
});
