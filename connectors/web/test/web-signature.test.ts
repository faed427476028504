import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { signWebPayload, verifyWebSignature } from '../src/web-signature.js';

const SECRET = 'callback-secret-0123456789';
const BODY = '{"id":"m1","text":"Grüße"}';

/** Computed independently of the code under test. */
const reference = (secret: string, ts: number | string, body: string): string => `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;

describe('web callback signature (unit)', () => {
  const now = 1_800_000_000;

  it('signs HMAC-SHA256 over "<timestamp>.<body>" as sha256=<hex>', () => {
    expect(signWebPayload(SECRET, now, BODY)).to.equal(reference(SECRET, now, BODY));
    expect(signWebPayload(SECRET, now, Buffer.from(BODY))).to.equal(reference(SECRET, now, BODY));
  });

  it('accepts a valid signature within the tolerance, string or number timestamp, any hex case', () => {
    const header = reference(SECRET, now, BODY);
    expect(verifyWebSignature(SECRET, String(now), BODY, header, 300, now + 299)).to.equal(true);
    expect(verifyWebSignature(SECRET, now, Buffer.from(BODY), header, 300, now - 299)).to.equal(true);
    expect(verifyWebSignature(SECRET, now, BODY, header.toUpperCase().replace('SHA256=', 'sha256='), 300, now)).to.equal(true);
  });

  it('refuses a wrong secret, a changed body, a changed timestamp', () => {
    const header = reference(SECRET, now, BODY);
    expect(verifyWebSignature('another-secret-0123456789', now, BODY, header, 300, now)).to.equal(false);
    expect(verifyWebSignature(SECRET, now, BODY.replace('m1', 'm2'), header, 300, now)).to.equal(false);
    expect(verifyWebSignature(SECRET, now + 1, BODY, header, 300, now)).to.equal(false);
  });

  it('refuses timestamps outside the tolerance (replays) and malformed input', () => {
    const old = now - 301;
    expect(verifyWebSignature(SECRET, old, BODY, reference(SECRET, old, BODY), 300, now)).to.equal(false);
    const future = now + 301;
    expect(verifyWebSignature(SECRET, future, BODY, reference(SECRET, future, BODY), 300, now)).to.equal(false);
    const header = reference(SECRET, now, BODY);
    expect(verifyWebSignature(SECRET, now, BODY, undefined, 300, now)).to.equal(false);
    expect(verifyWebSignature(SECRET, undefined, BODY, header, 300, now)).to.equal(false);
    expect(verifyWebSignature(SECRET, 'abc', BODY, header, 300, now)).to.equal(false);
    expect(verifyWebSignature(SECRET, now, BODY, header.slice('sha256='.length), 300, now)).to.equal(false);
    expect(verifyWebSignature(SECRET, now, BODY, `${header}00`, 300, now)).to.equal(false);
    expect(verifyWebSignature(SECRET, now, BODY, 'sha1=abc', 300, now)).to.equal(false);
  });

  it('uses the current time by default', () => {
    const ts = Math.floor(Date.now() / 1000);
    expect(verifyWebSignature(SECRET, ts, BODY, reference(SECRET, ts, BODY))).to.equal(true);
    expect(verifyWebSignature(SECRET, ts - 3600, BODY, reference(SECRET, ts - 3600, BODY))).to.equal(false);
  });
});
