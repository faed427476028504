import { expect } from 'chai';
import { z } from 'zod';
import { ConnectorConfigError, connectorEnvSchema, loadConfigOrExit, loadConnectorConfig, parseConnectorEnv } from '../src/connector-env.js';
import { HubConnector } from '../src/hub-connector.js';

const schema = connectorEnvSchema({ id: 'chat', name: 'Chat Connector', port: 8090 }).extend({
  CHAT_TOKEN: z.string({ error: 'is required' }).min(16, 'must be at least 16 characters'),
});
const REQUIRED = { HUB_URL: 'http://127.0.0.1:8080', CONNECTOR_KEY: 'chat-key-0123', CHAT_TOKEN: 'chat-token-0123456789' };

/** The ConnectorConfigError parseConnectorEnv throws for `env`. */
function problems(env: Record<string, string | undefined>): ConnectorConfigError {
  try {
    parseConnectorEnv(schema, env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConnectorConfigError);
    return err as ConnectorConfigError;
  }
  throw new Error('expected a ConnectorConfigError');
}

describe('connector environment (unit)', () => {
  it('applies the connector defaults and the common ones', () => {
    expect(parseConnectorEnv(schema, REQUIRED)).to.deep.equal({
      ...REQUIRED,
      CONNECTOR_ID: 'chat',
      CONNECTOR_NAME: 'Chat Connector',
      PORT: 8090,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
    });
  });

  it('reads overrides; an unset or blank variable counts as absent', () => {
    const env = parseConnectorEnv(schema, { ...REQUIRED, CONNECTOR_ID: 'chat-2', CONNECTOR_NAME: ' ', PORT: '0', HOST: '', LOG_LEVEL: 'debug', OTHER: 'x' });
    expect(env).to.include({ CONNECTOR_ID: 'chat-2', CONNECTOR_NAME: 'Chat Connector', PORT: 0, HOST: '0.0.0.0', LOG_LEVEL: 'debug' });
    expect(env).not.to.have.property('OTHER');
    expect(parseConnectorEnv(schema, { ...REQUIRED, HUB_URL: 'wss://hub.example.com' }).HUB_URL).to.equal('wss://hub.example.com');
  });

  it('names every missing or bad variable in one error, never a value', () => {
    const err = problems({ HUB_URL: 'not a url', CONNECTOR_KEY: 'k3y!x', CONNECTOR_ID: 'Bad Id', PORT: '70000', LOG_LEVEL: 'loud', CHAT_TOKEN: '   ' });
    expect(err.issues).to.deep.equal([
      "HUB_URL: must be the hub's http(s) URL, e.g. http://127.0.0.1:8080",
      'CONNECTOR_KEY: must be at least 8 characters (the hub refuses shorter keys)',
      'CONNECTOR_ID: must be a connector id such as "chat" (lower-case letters, digits, "_" or "-", at most 32)',
      'PORT: must be a port number 0-65535',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
      'CHAT_TOKEN: is required',
    ]);
    expect(err.message).to.equal(`invalid configuration: ${err.issues.join('; ')}`);
    for (const value of ['not a url', 'k3y!x', 'Bad Id', '70000', 'loud']) expect(err.message).not.to.include(value);
  });

  it('says "is required" for an absent HUB_URL or CONNECTOR_KEY', () => {
    expect(problems({ CHAT_TOKEN: REQUIRED.CHAT_TOKEN, HUB_URL: '' }).issues).to.deep.equal(['HUB_URL: is required', 'CONNECTOR_KEY: is required']);
  });

  it('HUB_URL: http, https, ws or wss only', () => {
    expect(problems({ ...REQUIRED, HUB_URL: 'ftp://hub.example.com' }).issues).to.have.length(1);
  });

  it('loadConnectorConfig maps the common variables and adds the connector’s own fields', () => {
    const config = loadConnectorConfig(schema, { ...REQUIRED, PORT: '9000' }, (e) => ({ token: e.CHAT_TOKEN }));
    expect(config).to.deep.equal({
      hubUrl: REQUIRED.HUB_URL,
      connectorKey: REQUIRED.CONNECTOR_KEY,
      connectorId: 'chat',
      connectorName: 'Chat Connector',
      port: 9000,
      host: '0.0.0.0',
      logLevel: 'info',
      token: REQUIRED.CHAT_TOKEN,
    });
    expect(() => loadConnectorConfig(schema, {}, () => ({}))).to.throw(ConnectorConfigError, /HUB_URL.*CONNECTOR_KEY.*CHAT_TOKEN/);
  });

  it('HubConnector.fromConfig takes the hub URL, id, name and key from the configuration', () => {
    const hub = HubConnector.fromConfig(loadConnectorConfig(schema, REQUIRED, () => ({})));
    expect(hub).to.include({ hubUrl: REQUIRED.HUB_URL, id: 'chat', name: 'Chat Connector' });
  });

  describe('loadConfigOrExit', () => {
    const write = process.stderr.write;
    let written: string[];
    beforeEach(() => {
      written = [];
      process.stderr.write = ((chunk: string) => (written.push(chunk), true)) as typeof process.stderr.write;
    });
    afterEach(() => {
      process.stderr.write = write;
    });

    it('returns the configuration', () => {
      expect(loadConfigOrExit(() => 42, () => expect.fail('no exit'))).to.equal(42);
      expect(written).to.deep.equal([]);
    });

    it('writes one fatal JSON line to stderr and exits 1 on an invalid environment', () => {
      const exits: number[] = [];
      expect(() => loadConfigOrExit(() => parseConnectorEnv(schema, { CONNECTOR_KEY: 'k3y!x' }), (code) => void exits.push(code))).to.throw(ConnectorConfigError);
      process.stderr.write = write;
      expect(exits).to.deep.equal([1]);
      expect(written).to.have.length(1);
      const line = JSON.parse(written[0]!) as Record<string, unknown>;
      expect(line).to.include({ level: 60, service: 'chat-hub-connector' });
      expect(line['msg']).to.match(/^invalid configuration: HUB_URL: is required; CONNECTOR_KEY: /);
      expect(written[0]).not.to.include('k3y!x');
    });
  });
});
