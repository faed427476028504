import { expect } from 'chai';
import { loadConfig } from '../src/config.js';

const base = { HUB_URL: 'http://127.0.0.1:8080', CONNECTOR_KEY: 'sms-key-123', SMS_ACCOUNT_SID: 'AC1', SMS_AUTH_TOKEN: 'secret-token', SMS_FROM: '+4930123456' };

describe('sms connector: configuration (unit)', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c).to.include({ connectorId: 'sms', connectorName: 'SMS Connector', port: 8081, apiBase: 'https://api.twilio.com', apiTimeoutMs: 10_000, logLevel: 'info' });
    expect(c.publicUrl).to.equal(undefined);
    expect(c.messagingServiceSid).to.equal(undefined);
  });

  it('strips a trailing slash from PUBLIC_URL and SMS_API_BASE and treats blank values as unset', () => {
    const c = loadConfig({ ...base, PUBLIC_URL: 'https://sms.example.com/', SMS_API_BASE: 'http://127.0.0.1:9/', SMS_MESSAGING_SERVICE_SID: ' ' });
    expect(c.publicUrl).to.equal('https://sms.example.com');
    expect(c.apiBase).to.equal('http://127.0.0.1:9');
    expect(c.messagingServiceSid).to.equal(undefined);
  });

  it('needs a sender: SMS_FROM or SMS_MESSAGING_SERVICE_SID', () => {
    const { SMS_FROM: _from, ...noSender } = base;
    expect(() => loadConfig(noSender)).to.throw(/SMS_FROM or SMS_MESSAGING_SERVICE_SID/);
    expect(loadConfig({ ...noSender, SMS_MESSAGING_SERVICE_SID: 'MG1' }).messagingServiceSid).to.equal('MG1');
  });

  it('names every bad variable without echoing secret values', () => {
    try {
      loadConfig({ ...base, SMS_AUTH_TOKEN: '', CONNECTOR_KEY: 'k3y!x', HUB_URL: 'nope' });
      expect.fail('should throw');
    } catch (err) {
      const message = (err as Error).message;
      expect(message).to.match(/HUB_URL/).and.match(/CONNECTOR_KEY/).and.match(/SMS_AUTH_TOKEN/);
      expect(message).not.to.include('k3y!x');
    }
  });
});
