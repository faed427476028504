import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { safeEqual, signPayload, verifySignature } from '../src/fb-signature.js';

const SECRET = 'app-secret-0123456789';
const body = Buffer.from('{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"h\\u00e9llo"}}]}]}');

describe('fb-signature (unit)', () => {
  it('signs as Meta does: sha256= and the hex HMAC-SHA256 of the raw bytes with the app secret', () => {
    const hex = createHmac('sha256', SECRET).update(body).digest('hex');
    expect(signPayload(SECRET, body)).to.equal(`sha256=${hex}`);
  });

  it('accepts the right signature and refuses every near miss', () => {
    const header = signPayload(SECRET, body);
    expect(verifySignature(SECRET, body, header)).to.equal(true);
    expect(verifySignature(SECRET, body, header.toUpperCase().replace('SHA256=', 'sha256='))).to.equal(true, 'hex case does not matter');
    expect(verifySignature('other-secret', body, header)).to.equal(false, 'other secret');
    expect(verifySignature(SECRET, Buffer.concat([body, Buffer.from(' ')]), header)).to.equal(false, 'one byte more');
    expect(verifySignature(SECRET, body, undefined)).to.equal(false, 'missing');
    expect(verifySignature(SECRET, body, '')).to.equal(false, 'empty');
    expect(verifySignature(SECRET, body, header.slice('sha256='.length))).to.equal(false, 'no prefix');
    expect(verifySignature(SECRET, body, `sha1=${header.slice(7)}`)).to.equal(false, 'other algorithm');
    expect(verifySignature(SECRET, body, header.slice(0, -2))).to.equal(false, 'truncated');
    expect(verifySignature(SECRET, body, `${header}00`)).to.equal(false, 'too long');
    expect(verifySignature(SECRET, body, `sha256=${'zz'.repeat(32)}`)).to.equal(false, 'not hex');
  });

  it('is computed over the raw bytes, not over re-serialised JSON', () => {
    const header = signPayload(SECRET, body);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))));
    expect(reserialised.equals(body)).to.equal(false);
    expect(verifySignature(SECRET, reserialised, header)).to.equal(false);
  });

  it('safeEqual compares secrets of any length', () => {
    expect(safeEqual('verify-me', 'verify-me')).to.equal(true);
    expect(safeEqual('verify-me', 'verify-mE')).to.equal(false);
    expect(safeEqual('verify-me', 'verify-me-longer')).to.equal(false);
    expect(safeEqual('', 'x')).to.equal(false);
  });
});
