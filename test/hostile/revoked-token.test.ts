import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, connect, connectRefused, emitAck, initCustomer, nextEvent, postJson, sleep, type AnyAck } from '../support/clients.js';
import { bearer, chatPluginChannel, newVisitor, resumeTokenOf, system } from '../support/chatplugin.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';

/** The participant id (`sub`) a token names; the attacker holds the token, so reads it. */
function subjectOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub: string };
  return payload.sub;
}

/** Resolves once the hub closes the socket (or with reason "still open" after 5 s), with the `error` events it sent before. */
function closedByHub(socket: Socket): Promise<{ reason: string; errors: Array<{ error: { code: string } }> }> {
  const errors: Array<{ error: { code: string } }> = [];
  socket.on('error', (e: { error: { code: string } }) => errors.push(e));
  const closed = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
  return Promise.race([closed, sleep(5000).then(() => 'still open')]).then((reason) => ({ reason, errors }));
}

function codeOf(ack: AnyAck): string {
  return ack.ok ? 'ok' : ack.error.code;
}

/**
 * The attack: a visitor "logs out everywhere" (chatplugin.revokeResumeToken), but whoever copied
 * their chat plugin token keeps using it where the chat plugin's own checks never run: the default
 * Socket.IO namespace (join, read, send, end) and the transcript endpoint, until the token expires.
 */
describe('hostile: a revoked token is dead on every surface', function () {
  this.timeout(60_000);
  let store: TestStore;
  let hub: RunningHub;
  let channelId: string;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('hostile_revoked'));
    channelId = await chatPluginChannel(hub.url);
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('a stolen chat plugin token stops on the default namespace and for transcripts once the visitor revokes', async () => {
    const visitor = await newVisitor(hub.url, channelId);
    const resume = await resumeTokenOf(hub.url, visitor.token);
    const conversationId = visitor.conversation_id;
    const id = subjectOf(visitor.token);

    // The thief joins on the default namespace twice: token in the handshake, and token in the join only.
    const viaHandshake = await connect(hub.url, { token: visitor.token });
    expect(codeOf(await emitAck(viaHandshake, 'joinConversation', { conversationId, id, name: 'x' }))).to.equal('ok');
    const viaPayload = await connect(hub.url);
    expect(codeOf(await emitAck(viaPayload, 'joinConversation', { conversationId, id, name: 'x', token: visitor.token }))).to.equal('ok');
    const closedA = closedByHub(viaHandshake);
    const closedB = closedByHub(viaPayload);

    const revoked = await postJson(`${hub.url}/chatplugin.revokeResumeToken`, { resume_token: resume });
    expect(revoked.status, JSON.stringify(revoked.body)).to.equal(200);

    // Already-connected sockets holding the token are told and closed.
    for (const closed of [await closedA, await closedB]) {
      expect(closed.reason).to.equal('io server disconnect');
      expect(closed.errors.map((e) => e.error.code)).to.deep.equal(['UNAUTHORIZED']);
    }
    // New connections and events with the token are refused.
    expect((await connectRefused(hub.url, { token: visitor.token })).data?.code).to.equal('UNAUTHORIZED');
    const anonymous = await connect(hub.url);
    expect(codeOf(await emitAck(anonymous, 'joinConversation', { conversationId, id, name: 'x', token: visitor.token }))).to.equal('UNAUTHORIZED');
    expect(codeOf(await emitAck(anonymous, 'endConversation', { conversationId, token: visitor.token }))).to.equal('UNAUTHORIZED');
    expect(codeOf(await emitAck(anonymous, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id, name: 'x' }, text: 'hi', token: visitor.token }))).to.not.equal('ok');

    // The conversation is still open: the revoked token ended nothing. The system ends it; the transcript stays closed to the thief.
    const sys = await connect(hub.url, { token: system.authorization.slice('Bearer '.length) });
    expect(codeOf(await emitAck(sys, 'endConversation', { conversationId }))).to.equal('ok');
    const stolen = await fetch(`${hub.url}/api/customer/transcript/${conversationId}/pdf`, { headers: bearer(visitor.token) });
    expect(stolen.status).to.equal(401);
    expect(((await stolen.json()) as { code: string }).code).to.equal('UNAUTHORIZED');
    const allowed = await fetch(`${hub.url}/api/customer/transcript/${conversationId}/pdf`, { headers: system });
    expect(allowed.status).to.equal(200);
    await allowed.arrayBuffer();
  });

  it('a revoked resume token cannot revoke again (it would log the visitor out of every new session)', async () => {
    const visitor = await newVisitor(hub.url, channelId);
    const resume = await resumeTokenOf(hub.url, visitor.token);
    expect((await postJson(`${hub.url}/chatplugin.revokeResumeToken`, { resume_token: resume })).status).to.equal(200);
    // The visitor comes back with a fresh resume token (issued by their site's backend) and a fresh session.
    const fresh = await postJson<{ resume_token: string }>(`${hub.url}/chatplugin.resumeToken`, { channel_id: channelId, conversation_id: visitor.conversation_id }, system);
    const session = await postJson<{ token: string }>(`${hub.url}/chatplugin.authenticate`, { resume_token: fresh.body.resume_token });
    expect(session.status).to.equal(200);
    // The old, revoked resume token tries to kill it.
    const again = await postJson<{ code: string; error: string }>(`${hub.url}/chatplugin.revokeResumeToken`, { resume_token: resume });
    expect(again.status).to.equal(401);
    expect(again.body).to.include({ code: 'UNAUTHORIZED', error: 'resume token revoked' });
    // The new session lives on.
    const sent = await postJson(`${hub.url}/chatplugin.send`, { message: { text: 'still here' } }, bearer(session.body.token));
    expect(sent.status, JSON.stringify(sent.body)).to.equal(200);
  });

  it('revoking a web conversation’s tokens (system) closes its customer sockets and refuses its init token', async () => {
    const init = await initCustomer(hub.url);
    const customer = await connect(hub.url, { token: init.token });
    const info = nextEvent(customer, 'conversationInfo');
    expect(codeOf(await emitAck(customer, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: 'x' }))).to.equal('ok');
    await info;
    const closed = closedByHub(customer);
    expect((await postJson(`${hub.url}/chatplugin.revokeResumeToken`, { conversation_id: init.conversationId }, system)).status).to.equal(200);
    const { reason, errors } = await closed;
    expect(reason).to.equal('io server disconnect');
    expect(errors.map((e) => e.error.code)).to.deep.equal(['UNAUTHORIZED']);
    expect((await connectRefused(hub.url, { token: init.token })).data?.code).to.equal('UNAUTHORIZED');
  });
});
