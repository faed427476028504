import { expect } from 'chai';
import { ConnectorConfigError } from '@chat-hub/connector-sdk';
import { loadConfig } from '../src/config.js';

const REQUIRED = {
  HUB_URL: 'http://127.0.0.1:8080',
  CONNECTOR_KEY: 'fb-key-123456',
  FB_APP_SECRET: 'app-secret-value',
  FB_VERIFY_TOKEN: 'verify-token-value',
  FB_PAGE_ACCESS_TOKEN: 'page-token-value',
};

describe('facebook connector config (unit)', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(REQUIRED);
    expect(c).to.include({
      connectorId: 'fb',
      connectorName: 'Facebook Messenger',
      port: 8082,
      graphBase: 'https://graph.facebook.com',
      graphVersion: 'v21.0',
      apiTimeoutMs: 10_000,
      logLevel: 'info',
    });
  });

  it('names every missing or bad variable without echoing any value', () => {
    try {
      loadConfig({ HUB_URL: 'not a url', FB_GRAPH_VERSION: '21', FB_PAGE_ACCESS_TOKEN: 'page-token-value', PORT: '' });
      expect.fail('should have thrown');
    } catch (err) {
      expect(err).to.be.instanceOf(ConnectorConfigError);
      const msg = (err as Error).message;
      for (const name of ['HUB_URL', 'CONNECTOR_KEY', 'FB_APP_SECRET', 'FB_VERIFY_TOKEN', 'FB_GRAPH_VERSION']) expect(msg).to.contain(name);
      expect(msg).to.not.contain('page-token-value');
      expect(msg).to.not.contain('PORT');
    }
  });

  it('reads overrides and trims a trailing slash from the Graph base', () => {
    const c = loadConfig({ ...REQUIRED, FB_GRAPH_BASE: 'http://127.0.0.1:9999/', FB_GRAPH_VERSION: 'v19.0', FB_API_TIMEOUT_MS: '2500', PORT: '0' });
    expect(c).to.include({ graphBase: 'http://127.0.0.1:9999', graphVersion: 'v19.0', apiTimeoutMs: 2500, port: 0 });
  });
});
