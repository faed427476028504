import { expect } from 'chai';
import { closeAllSockets, emitAck, initCustomer, joinedAgent, postJson, sleep, type InitBody } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { rawConnector, until, type RawConnector } from '../support/raw-connector.js';
import { startTestStore, type TestStore } from '../support/store.js';

const SMS_KEY = 'sms-key-0123456789';
const system = { authorization: `Bearer ${SYSTEM_TOKEN}` };
type ErrorBody = { error: string; code: string; details?: Array<{ field: string }> };

/**
 * The attack (SMS pumping): an anonymous init with `channel: "sms"` and a number of the caller's
 * choosing bound the conversation to the SMS connector, so every agent reply went out as a paid
 * SMS to that number. Only connectors and campaigns (the system token) start such conversations.
 */
describe('hostile: an anonymous init cannot bind a conversation to a connector', function () {
  this.timeout(60_000);
  let store: TestStore;
  let hub: RunningHub;
  let sms: RawConnector;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('hostile_connector_channel'), { CONNECTOR_KEYS: `sms:${SMS_KEY}` });
  });
  beforeEach(async () => {
    sms = await rawConnector(hub.url, 'sms', SMS_KEY);
    expect((await sms.register()).ok).to.equal(true);
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('refuses channel sms, fb and twitter without the system token (403 FORBIDDEN, naming the channel); no SMS ever goes out', async () => {
    const refused: Array<{ channel: string; status: number; body: InitBody & ErrorBody }> = [];
    for (const channel of ['sms', 'fb', 'twitter']) {
      const res = await postJson<InitBody & ErrorBody>(`${hub.url}/api/customer/init`, { firstName: 'Pump', channel, phone: '+88216000001', refId: '+88216000001' });
      refused.push({ channel, status: res.status, body: res.body });
      if (res.status === 200) {
        // What the attacker is after: an agent's reply, sent to the caller's number as an SMS.
        const { socket } = await joinedAgent(hub.url, res.body.conversationId, `agent-pump-${channel}`);
        await emitAck(socket, 'sendMessage', { conversationId: res.body.conversationId, type: 'ChatMessage', from: { id: `agent-pump-${channel}`, name: 'A' }, text: 'reply' });
      }
    }
    await sleep(300);
    expect(sms.received.map((m) => m.refId), 'no message may reach the SMS connector').to.deep.equal([]);
    for (const { channel, status, body } of refused) {
      expect(status, `${channel}: ${JSON.stringify(body)}`).to.equal(403);
      expect(body.code).to.equal('FORBIDDEN');
      expect(body.error).to.contain(`"${channel}"`);
      expect(body.details?.map((d) => d.field)).to.deep.equal(['channel']);
      expect(body).to.not.have.property('token');
    }
  });

  it('a customer or agent token is not enough either', async () => {
    const customer = await initCustomer(hub.url);
    const res = await postJson<ErrorBody>(`${hub.url}/api/customer/init`, { firstName: 'Pump', channel: 'sms', phone: '+88216000002' }, { authorization: `Bearer ${customer.token}` });
    expect(res.status).to.equal(403);
  });

  it('an anonymous web init still works, and its replies never reach a connector', async () => {
    const web = await initCustomer(hub.url, { phone: '+88216000003' });
    const { socket } = await joinedAgent(hub.url, web.conversationId, 'agent-web');
    const ack = await emitAck(socket, 'sendMessage', { conversationId: web.conversationId, type: 'ChatMessage', from: { id: 'agent-web', name: 'A' }, text: 'hello' });
    expect(ack.ok).to.equal(true);
    await sleep(300);
    expect(sms.received).to.have.length(0);
  });

  it('the system token (a campaign backend) may still open an SMS conversation, and replies go out through the connector', async () => {
    const res = await postJson<InitBody>(`${hub.url}/api/customer/init`, { firstName: 'Cam', channel: 'sms', phone: '+4915100000777' }, system);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const { socket } = await joinedAgent(hub.url, res.body.conversationId, 'agent-campaign');
    const ack = await emitAck(socket, 'sendMessage', { conversationId: res.body.conversationId, type: 'ChatMessage', from: { id: 'agent-campaign', name: 'A' }, text: 'your order shipped' });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    await until(() => sms.received.some((m) => m.text === 'your order shipped'), 'the SMS to go out');
  });
});
