import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { computeTwilioSignature, signatureUrlCandidates, verifyTwilioRequest, verifyTwilioSignature } from '../src/twilio-signature.js';

// The worked example of Twilio's request-validation docs (also the vector of its helper libraries' tests).
const TOKEN = '12345';
const URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const PARAMS = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
const DOCUMENTED = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';

describe('sms connector: Twilio signature (unit)', () => {
  it("reproduces Twilio's documented example signature", () => {
    expect(computeTwilioSignature(TOKEN, URL, PARAMS)).to.equal(DOCUMENTED);
  });

  it('signs the URL followed by name+value pairs sorted by name (computed independently)', () => {
    const data = `${URL}CallSid${PARAMS.CallSid}Caller${PARAMS.Caller}Digits${PARAMS.Digits}From${PARAMS.From}To${PARAMS.To}`;
    const independent = createHmac('sha1', TOKEN).update(data).digest('base64');
    expect(independent).to.equal(DOCUMENTED);
    // Parameter order in the request does not matter.
    const shuffled = { To: PARAMS.To, Digits: PARAMS.Digits, CallSid: PARAMS.CallSid, From: PARAMS.From, Caller: PARAMS.Caller };
    expect(computeTwilioSignature(TOKEN, URL, shuffled)).to.equal(DOCUMENTED);
  });

  it('signs every value of a repeated parameter, values sorted', () => {
    const params = { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234', '1234'] };
    const data = `${URL}Digits1234Digits1234Digits5678SidCA123SidAccountAC123`;
    expect(computeTwilioSignature(TOKEN, URL, params)).to.equal(createHmac('sha1', TOKEN).update(data).digest('base64'));
  });

  it('accepts the right signature and refuses tampering, a wrong token, a missing or malformed header', () => {
    expect(verifyTwilioSignature(TOKEN, URL, PARAMS, DOCUMENTED)).to.equal(true);
    expect(verifyTwilioSignature(TOKEN, URL, { ...PARAMS, Digits: '9999' }, DOCUMENTED)).to.equal(false);
    expect(verifyTwilioSignature(TOKEN, `${URL}&baz=3`, PARAMS, DOCUMENTED)).to.equal(false);
    expect(verifyTwilioSignature('54321', URL, PARAMS, DOCUMENTED)).to.equal(false);
    expect(verifyTwilioSignature(TOKEN, URL, PARAMS, undefined)).to.equal(false);
    expect(verifyTwilioSignature(TOKEN, URL, PARAMS, '')).to.equal(false);
    expect(verifyTwilioSignature(TOKEN, URL, PARAMS, 'short')).to.equal(false);
    expect(verifyTwilioSignature(TOKEN, URL, PARAMS, `${DOCUMENTED}x`)).to.equal(false);
  });

  it('accepts a signature over the URL with or without the default port', () => {
    expect(signatureUrlCandidates('https://mycompany.com/myapp.php?foo=1')).to.deep.equal([
      'https://mycompany.com/myapp.php?foo=1',
      'https://mycompany.com:443/myapp.php?foo=1',
    ]);
    expect(signatureUrlCandidates('http://127.0.0.1:8081/sms/inbound')).to.deep.equal(['http://127.0.0.1:8081/sms/inbound']);
    const withPort = computeTwilioSignature(TOKEN, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', PARAMS);
    expect(verifyTwilioRequest(TOKEN, URL, PARAMS, withPort)).to.equal(true);
    expect(verifyTwilioRequest(TOKEN, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', PARAMS, DOCUMENTED)).to.equal(true);
    expect(verifyTwilioRequest(TOKEN, 'https://mycompany.com:8443/myapp.php?foo=1&bar=2', PARAMS, DOCUMENTED)).to.equal(false);
  });
});
