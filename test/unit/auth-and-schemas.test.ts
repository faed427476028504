import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { TokenService, bearerToken } from '../../src/auth/token.service.js';
import { parseConnectorKeys } from '../../src/config.js';
import { HubError } from '../../src/contracts/errors.js';
import { initSchema, parseOrThrow, sendMessageSchema, splitCustomFields } from '../../src/contracts/schemas.js';
import { OriginPolicy } from '../../src/transport/origin-policy.js';

const SECRET = 'unit-secret-unit-secret-unit-secret-1234';
const tokens = new TokenService({
  secret: SECRET,
  systemToken: 'system-token-system-token-1234',
  customerTokenTtlSeconds: 60,
  chatPluginTokenTtlSeconds: 60,
  resumeTokenTtlSeconds: 600,
  agentTokenTtlSeconds: 60,
  defaultMaxChats: 3,
});

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof HubError ? err.code : 'not a HubError';
  }
  return undefined;
}

describe('TokenService (unit)', () => {
  it('round-trips customer and agent tokens', () => {
    const before = Date.now();
    const c = tokens.authenticate(tokens.issueCustomerToken({ participantId: 'p1', conversationId: 'c1', name: 'Jane' }));
    expect(c).to.deep.include({ kind: 'customer', participantId: 'p1', conversationId: 'c1', name: 'Jane' });
    const a = tokens.authenticate(tokens.issueAgentToken({ id: 'a1', name: 'Ann', skills: ['billing'] }));
    expect(a).to.deep.include({ kind: 'agent', agentId: 'a1', name: 'Ann', skills: ['billing'], maxChats: 3 });
    // Expiry is the configured 60 s, carried so a long-lived connection can enforce it.
    for (const p of [c, a]) {
      const expiresAt = (p as { expiresAt: number }).expiresAt;
      expect(expiresAt).to.be.within(before + 59_000, Date.now() + 60_000);
    }
    expect(tokens.authenticate('system-token-system-token-1234')).to.deep.equal({ kind: 'system' });
  });

  it('refuses other algorithms, foreign issuers, missing expiry and near-miss system tokens', () => {
    const opts = { audience: 'agent', issuer: 'chat-hub', subject: 'a1' };
    expect(code(() => tokens.authenticate(jwt.sign({}, SECRET, { ...opts, algorithm: 'HS512', expiresIn: 60 })))).to.equal('UNAUTHORIZED');
    expect(code(() => tokens.authenticate(jwt.sign({}, SECRET, { ...opts, issuer: 'other', expiresIn: 60 })))).to.equal('UNAUTHORIZED');
    expect(code(() => tokens.authenticate(jwt.sign({}, SECRET, opts)))).to.equal('UNAUTHORIZED');
    expect(code(() => tokens.authenticate(jwt.sign({}, SECRET, { ...opts, audience: 'admin', expiresIn: 60 })))).to.equal('UNAUTHORIZED');
    expect(code(() => tokens.authenticate('system-token-system-token-123'))).to.equal('UNAUTHORIZED');
  });

  it('reads bearer headers strictly', () => {
    expect(bearerToken('Bearer abc')).to.equal('abc');
    expect(bearerToken('bearer abc ')).to.equal('abc');
    expect(bearerToken('Basic abc')).to.equal(undefined);
    expect(bearerToken(undefined)).to.equal(undefined);
  });
});

describe('schemas (unit)', () => {
  it('splits custom fields from known init fields', () => {
    const body = parseOrThrow(initSchema, { firstName: 'A', channel: 'web', email: 'a@b.co', plan: 'gold' }, 'init');
    expect(splitCustomFields(body)).to.deep.equal({ plan: 'gold' });
  });

  it('rejects unknown message fields and nested operator keys', () => {
    const base = { conversationId: '6f1c3f5e-8a41-4c1e-9d2a-2b1f4c8e9a10', type: 'ChatMessage', from: { id: 'p', name: 'P' }, text: 'x' };
    expect(code(() => parseOrThrow(sendMessageSchema, { ...base, extra: 1 }, 'm'))).to.equal('BAD_REQUEST');
    expect(code(() => parseOrThrow(sendMessageSchema, { ...base, metadata: { a: { $gt: 1 } } }, 'm'))).to.equal('BAD_REQUEST');
    expect(code(() => parseOrThrow(sendMessageSchema, { ...base, metadata: { 'a.b': 1 } }, 'm'))).to.equal('BAD_REQUEST');
    expect(parseOrThrow(sendMessageSchema, { ...base, metadata: { a: { b: 1 } } }, 'm').metadata).to.deep.equal({ a: { b: 1 } });
  });
});

describe('configuration helpers (unit)', () => {
  it('parses CONNECTOR_KEYS and names a malformed entry', () => {
    expect(parseConnectorKeys('sms:s3cret-key,fb:other:with-colon')).to.deep.equal({ sms: 's3cret-key', fb: 'other:with-colon' });
    expect(() => parseConnectorKeys('sms')).to.throw(/sms/);
  });

  it('allows configured origins and origin-less clients only', () => {
    const policy = new OriginPolicy(['https://shop.example']);
    expect(policy.allows(undefined)).to.equal(true);
    expect(policy.allows('https://shop.example')).to.equal(true);
    expect(policy.allows('https://evil.example')).to.equal(false);
    expect(new OriginPolicy(['*']).allows('https://any.example')).to.equal(true);
  });
});
