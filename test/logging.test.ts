import { expect } from 'chai';
import { agentToken, closeAllSockets, connect, emitAck, joinedCustomer, postJson } from './support/clients.js';
import { HUB_SECRET, startHub, SYSTEM_TOKEN, type RunningHub } from './support/hub.js';
import { startTestStore, type TestStore } from './support/store.js';

describe('structured logs', function () {
  let store: TestStore;
  let hub: RunningHub;
  const lines: string[] = [];

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('logging'), { LOG_LEVEL: 'trace', CONNECTOR_KEYS: 'sms:sms-connector-key-123' }, (line) => lines.push(line));
  });
  after(async () => {
    closeAllSockets();
    await hub?.close();
    await store?.close();
  });

  it('are JSON lines that never contain a secret or a token, even on failures', async () => {
    const customer = await joinedCustomer(hub.url);
    const agent = await agentToken(hub.url, 'agent-log');
    const socket = await connect(hub.url, { token: agent });
    await emitAck(socket, 'joinConversation', { conversationId: customer.init.conversationId, id: 'agent-log', name: 'A' });
    await emitAck(socket, 'joinConversation', { conversationId: customer.init.conversationId, id: 'x', token: `${customer.init.token}tampered` });
    await postJson(`${hub.url}/api/agents/token`, { id: 'x', name: 'x' }, { authorization: `Bearer ${SYSTEM_TOKEN}wrong` });
    await emitAck(customer.socket, 'endConversation', { conversationId: customer.init.conversationId, token: SYSTEM_TOKEN });

    expect(lines.length).to.be.greaterThan(3);
    for (const line of lines) {
      expect(() => JSON.parse(line) as unknown, line).to.not.throw();
      for (const secret of [HUB_SECRET, SYSTEM_TOKEN, customer.init.token, agent, 'sms-connector-key-123']) {
        expect(line.includes(secret), `a log line leaks a secret: ${line.slice(0, 200)}`).to.equal(false);
      }
    }
    expect(lines.some((l) => l.includes('conversation opened'))).to.equal(true);
    expect(lines.some((l) => l.includes('conversation ended'))).to.equal(true);
  });
});
