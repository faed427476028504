import { expect } from 'chai';
import { loadConfig } from '../src/config.js';

const valid = {
  HUB_URL: 'http://127.0.0.1:8080',
  CONNECTOR_KEY: 'web-key-0123456789',
  WEB_INBOUND_TOKEN: 'inbound-token-0123456789',
  WEB_CALLBACK_URL: 'https://shop.example.org/chat/callback',
  WEB_CALLBACK_SECRET: 'callback-secret-0123456789',
};

describe('web connector configuration (unit)', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(valid);
    expect(c).to.deep.include({
      connectorId: 'web',
      connectorName: 'Web Connector',
      port: 8083,
      host: '0.0.0.0',
      logLevel: 'info',
      callbackTimeoutMs: 5000,
      callbackRetries: 3,
      callbackUrl: valid.WEB_CALLBACK_URL,
    });
  });

  it('reads overrides, treating blank values as absent', () => {
    const c = loadConfig({ ...valid, CONNECTOR_ID: 'shop', PORT: '0', WEB_CALLBACK_RETRIES: '0', WEB_CALLBACK_TIMEOUT_MS: '750', HOST: '' });
    expect(c).to.deep.include({ connectorId: 'shop', port: 0, callbackRetries: 0, callbackTimeoutMs: 750, host: '0.0.0.0' });
  });

  it('names every missing or weak variable without echoing secrets', () => {
    const attempt = (): unknown => loadConfig({ HUB_URL: 'not a url', WEB_INBOUND_TOKEN: 'short-secret', WEB_CALLBACK_SECRET: 'tiny', WEB_CALLBACK_URL: 'ftp://x' });
    expect(attempt).to.throw(/HUB_URL/);
    try {
      attempt();
    } catch (err) {
      const message = (err as Error).message;
      for (const name of ['HUB_URL', 'CONNECTOR_KEY', 'WEB_INBOUND_TOKEN', 'WEB_CALLBACK_URL', 'WEB_CALLBACK_SECRET']) expect(message).to.include(name);
      expect(message).not.to.include('short-secret');
      expect(message).not.to.include('tiny');
    }
  });
});
