import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import type { Socket } from 'socket.io-client';
import { authenticate, bearer, chatPluginChannel, chatPluginWorld, newVisitor, pluginSend, pluginSocket, resumeTokenOf, type SeedMessage, system } from './support/chatplugin.js';
import { agentToken, closeAllSockets, connectRefused, emitAck, joinedAgent, nextEvent, postJson } from './support/clients.js';
import { HUB_SECRET, startHub, type RunningHub } from './support/hub.js';
import { until } from './support/routing.js';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** An agent's chat message to a conversation (Customer Channel API). */
function agentSays(conversationId: string, agentId: string, text: string, tag: '' | 'whisper' = ''): Record<string, unknown> {
  return { conversationId, type: 'ChatMessage', from: { id: agentId, name: agentId }, text, tag };
}

describe('Chat plugin (§6, seeds 000/001)', function () {
  const world = chatPluginWorld('chatplugin');

  describe('POST /chatplugin.authenticate', () => {
    it('opens a new conversation from a channel id: a short-lived JWT naming conversation and channel, no messages', async () => {
      const res = await authenticate(world.hub.url, { channel_id: world.channelId });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.messages).to.deep.equal([]);
      const claims = jwt.verify(res.body.token, HUB_SECRET, { algorithms: ['HS256'] }) as jwt.JwtPayload;
      expect(claims['conversation_id']).to.equal(res.body.conversation_id);
      expect(claims['channel_id']).to.equal(world.channelId);
      expect(res.body.channel_id).to.equal(world.channelId);
      // Short-lived: an hour by default.
      expect((claims.exp ?? 0) - (claims.iat ?? 0)).to.equal(3600);
      const other = await authenticate(world.hub.url, { channel_id: world.channelId });
      expect(other.body.conversation_id, 'each anonymous visitor gets their own conversation').to.not.equal(res.body.conversation_id);
    });

    it('refuses bad bodies, unknown channels, channels of other sources, and bad resume tokens', async () => {
      const both = await authenticate(world.hub.url, { channel_id: world.channelId, resume_token: 'x' });
      expect(both.status).to.equal(400);
      expect(JSON.stringify(both.body)).to.contain('exactly one of channel_id');
      expect((await authenticate(world.hub.url, {})).status).to.equal(400);
      expect((await authenticate(world.hub.url, { channel_id: world.channelId, colour: 'red' })).status).to.equal(400);
      const unknown = await authenticate(world.hub.url, { channel_id: 'no-such-channel' });
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.include({ code: 'NOT_FOUND' });
      const sms = await chatPluginChannel(world.hub.url, 'sms');
      const wrong = await postJson<{ error: string }>(`${world.hub.url}/chatplugin.authenticate`, { channel_id: sms });
      expect(wrong.status).to.equal(400);
      expect(wrong.body.error).to.contain('not "chat_plugin"');
      const garbage = await authenticate(world.hub.url, { resume_token: 'not-a-token' });
      expect(garbage.status).to.equal(401);
      expect(garbage.body).to.include({ code: 'UNAUTHORIZED' });
      // A chat plugin token is not a resume token.
      const visitor = await newVisitor(world.hub.url, world.channelId);
      expect((await authenticate(world.hub.url, { resume_token: visitor.token })).status).to.equal(401);
      const expired = jwt.sign({ conversation_id: visitor.conversation_id, channel_id: world.channelId, epoch: 0 }, HUB_SECRET, {
        algorithm: 'HS256',
        audience: 'resume',
        issuer: 'chat-hub',
        subject: 'someone',
        expiresIn: -10,
      });
      const late = await authenticate(world.hub.url, { resume_token: expired });
      expect(late.status).to.equal(401);
      expect(late.body).to.include({ error: 'resume token expired' });
    });
  });

  describe('sending and receiving', () => {
    it('chatplugin.send stores the message in the seed shape; /ws.chatplugin delivers it and the agent’s replies, never whispers', async () => {
      const visitor = await newVisitor(world.hub.url, world.channelId);
      const cid = visitor.conversation_id;
      const messages: Array<{ message: SeedMessage }> = [];
      const activities: Array<{ activity: { type: string } }> = [];
      const socket = await pluginSocket(world.hub.url, visitor.token, (s) => {
        s.on('message', (m: { message: SeedMessage }) => messages.push(m));
        s.on('activity', (a: { activity: { type: string } }) => activities.push(a));
      });
      const sent = await pluginSend(world.hub.url, visitor.token, 'Hello from the website');
      expect(sent.status, JSON.stringify(sent.body)).to.equal(200);
      expect(sent.body).to.include({ conversation_id: cid, state: 'delivered', from_contact: true, source: 'chat_plugin' });
      expect(sent.body.content).to.deep.equal({ text: 'Hello from the website' });
      expect(sent.body.sent_at).to.match(ISO_MS);
      expect(sent.body.metadata).to.deep.equal({});
      expect(sent.body.sender.id).to.be.a('string');
      await until(() => messages.some((m) => m.message.id === sent.body.id), 'the visitor’s own message on the socket');

      // The agent meets the visitor in the same conversation model.
      const { socket: agent, info } = await joinedAgent(world.hub.url, cid, 'agent-cp-1');
      const history = (info as { messages: Array<{ id: string; text: string }> }).messages;
      expect(history.map((m) => m.id)).to.include(sent.body.id);
      const reply = await emitAck(agent, 'sendMessage', agentSays(cid, 'agent-cp-1', 'Hi, how can I help?'));
      expect(reply.ok, JSON.stringify(reply)).to.equal(true);
      const whisper = await emitAck(agent, 'sendMessage', agentSays(cid, 'agent-cp-1', 'internal note', 'whisper'));
      expect(whisper.ok).to.equal(true);
      await until(() => messages.some((m) => m.message.content.text === 'Hi, how can I help?'), 'the agent’s reply on /ws.chatplugin');
      const fromAgent = messages.find((m) => m.message.content.text === 'Hi, how can I help?')?.message;
      expect(fromAgent).to.include({ from_contact: false, conversation_id: cid });
      expect(fromAgent?.sender).to.deep.include({ id: 'agent-cp-1' });
      await until(() => activities.some((a) => a.activity.type === 'participantJoined'), 'the agent’s join as an activity');

      // And the agent gets the visitor's later messages over the Customer Channel API.
      const arrived = nextEvent<{ text: string; from: { role: string } }>(agent, 'messageArrived', (m) => m.text === 'second');
      await pluginSend(world.hub.url, visitor.token, 'second');
      expect((await arrived).from.role).to.equal('customer');
      // Delivery follows seq: once 'second' is here, the earlier whisper would have been too.
      await until(() => messages.some((m) => m.message.content.text === 'second'), 'the visitor’s second message on the socket');
      expect(messages.map((m) => m.message.content.text)).to.not.include('internal note');
      socket.close();
    });

    it('refuses sends without a token, with other credentials, bad bodies, and into an ended conversation', async () => {
      const visitor = await newVisitor(world.hub.url, world.channelId);
      const none = await postJson(`${world.hub.url}/chatplugin.send`, { message: { text: 'x' } });
      expect(none.status).to.equal(401);
      const agent = await agentToken(world.hub.url, 'agent-cp-2');
      const asAgent = await postJson(`${world.hub.url}/chatplugin.send`, { message: { text: 'x' } }, bearer(agent));
      expect(asAgent.status).to.equal(403);
      expect((await postJson(`${world.hub.url}/chatplugin.send`, { message: { text: 'x' } }, system)).status).to.equal(403);
      const empty = await postJson(`${world.hub.url}/chatplugin.send`, { message: { text: '' } }, bearer(visitor.token));
      expect(empty.status).to.equal(400);
      expect((await postJson(`${world.hub.url}/chatplugin.send`, { text: 'x' }, bearer(visitor.token))).status).to.equal(400);
      const { socket } = await joinedAgent(world.hub.url, visitor.conversation_id, 'agent-cp-2');
      expect((await emitAck(socket, 'endConversation', { conversationId: visitor.conversation_id })).ok).to.equal(true);
      const late = await pluginSend(world.hub.url, visitor.token, 'anyone there?');
      expect(late.status).to.equal(409);
      expect(late.body).to.include({ code: 'CONVERSATION_ENDED' });
    });

    it('refuses /ws.chatplugin handshakes without a chat plugin token, and answers events it does not take', async () => {
      const none = await connectRefused(`${world.hub.url}/ws.chatplugin`, {});
      expect(none.data?.code).to.equal('UNAUTHORIZED');
      const agent = await agentToken(world.hub.url, 'agent-cp-3');
      const asAgent = await connectRefused(`${world.hub.url}/ws.chatplugin`, { token: agent });
      expect(asAgent.data?.code).to.equal('FORBIDDEN');
      const bad = await connectRefused(`${world.hub.url}/ws.chatplugin`, { token: 'garbage' });
      expect(bad.data?.code).to.equal('UNAUTHORIZED');
      const visitor = await newVisitor(world.hub.url, world.channelId);
      const socket: Socket = await pluginSocket(world.hub.url, visitor.token);
      const ack = await emitAck(socket, 'sendMessage', { text: 'x' });
      expect(ack.ok).to.equal(false);
      expect(JSON.stringify(ack)).to.contain('POST /chatplugin.send');
    });
  });

  describe('resume tokens', () => {
    it('resumes a conversation with its history (no whispers) from a visitor’s resume token', async () => {
      const visitor = await newVisitor(world.hub.url, world.channelId);
      const cid = visitor.conversation_id;
      await pluginSend(world.hub.url, visitor.token, 'first visit');
      const { socket: agent } = await joinedAgent(world.hub.url, cid, 'agent-cp-4');
      await emitAck(agent, 'sendMessage', agentSays(cid, 'agent-cp-4', 'answer'));
      await emitAck(agent, 'sendMessage', agentSays(cid, 'agent-cp-4', 'secret', 'whisper'));
      const resume = await resumeTokenOf(world.hub.url, visitor.token);
      const claims = jwt.decode(resume) as jwt.JwtPayload;
      expect(claims['conversation_id']).to.equal(cid);
      expect(claims['channel_id']).to.equal(world.channelId);
      expect((claims.exp ?? 0) - (claims.iat ?? 0), 'long-lived: 90 days').to.equal(90 * 86400);
      const back = await authenticate(world.hub.url, { resume_token: resume });
      expect(back.status, JSON.stringify(back.body)).to.equal(200);
      expect(back.body.conversation_id).to.equal(cid);
      expect(back.body.messages.map((m) => m.content.text)).to.deep.equal(['first visit', 'answer']);
      expect(back.body.messages.map((m) => m.from_contact)).to.deep.equal([true, false]);
      // The fresh token writes into the same conversation.
      const again = await pluginSend(world.hub.url, back.body.token, 'back again');
      expect(again.body.conversation_id).to.equal(cid);
    });

    it('issues resume tokens for the system token with channel and conversation ids; refuses the rest', async () => {
      const visitor = await newVisitor(world.hub.url, world.channelId);
      const url = `${world.hub.url}/chatplugin.resumeToken`;
      const ok = await postJson<{ resume_token: string }>(url, { channel_id: world.channelId, conversation_id: visitor.conversation_id }, system);
      expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
      expect((await authenticate(world.hub.url, { resume_token: ok.body.resume_token })).body.conversation_id).to.equal(visitor.conversation_id);
      const missing = await postJson<{ details: Array<{ field: string }> }>(url, { channel_id: world.channelId }, system);
      expect(missing.status).to.equal(400);
      expect(missing.body.details.map((d) => d.field)).to.deep.equal(['conversation_id']);
      const other = await chatPluginChannel(world.hub.url);
      expect((await postJson(url, { channel_id: other, conversation_id: visitor.conversation_id }, system)).status).to.equal(404);
      expect((await postJson(url, { channel_id: world.channelId, conversation_id: '6f1c2d4e-1111-4222-8333-444455556666' }, system)).status).to.equal(404);
      expect((await postJson(url, {})).status).to.equal(401);
      expect((await postJson(url, {}, bearer(await agentToken(world.hub.url, 'agent-cp-5')))).status).to.equal(403);
      expect((await postJson(url, {}, bearer('x.y.z'))).status).to.equal(401);
    });

    it('revokes: resume and chat plugin tokens stop, the visitor’s sockets are closed with an error', async () => {
      const visitor = await newVisitor(world.hub.url, world.channelId);
      const resume = await resumeTokenOf(world.hub.url, visitor.token);
      const errors: Array<{ code: string }> = [];
      const socket = await pluginSocket(world.hub.url, visitor.token, (s) => s.on('error', (e: { code: string }) => errors.push(e)));
      const closed = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
      const res = await postJson<{ conversation_id: string; revoked: boolean }>(`${world.hub.url}/chatplugin.revokeResumeToken`, { resume_token: resume });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.deep.equal({ conversation_id: visitor.conversation_id, revoked: true });
      expect(await closed).to.equal('io server disconnect');
      expect(errors.map((e) => e.code)).to.deep.equal(['UNAUTHORIZED']);
      const resumed = await authenticate(world.hub.url, { resume_token: resume });
      expect(resumed.status).to.equal(401);
      expect(resumed.body).to.include({ error: 'resume token revoked' });
      expect((await pluginSend(world.hub.url, visitor.token, 'still me?')).status).to.equal(401);
      expect((await connectRefused(`${world.hub.url}/ws.chatplugin`, { token: visitor.token })).data?.code).to.equal('UNAUTHORIZED');
      // A resume token issued after the revocation works.
      const fresh = await postJson<{ resume_token: string }>(`${world.hub.url}/chatplugin.resumeToken`, { channel_id: world.channelId, conversation_id: visitor.conversation_id }, system);
      expect((await authenticate(world.hub.url, { resume_token: fresh.body.resume_token })).status).to.equal(200);
      // The system token revokes any conversation; unknown ones are 404; nothing at all is 401.
      const bySystem = await postJson(`${world.hub.url}/chatplugin.revokeResumeToken`, { conversation_id: visitor.conversation_id }, system);
      expect(bySystem.status).to.equal(200);
      expect((await authenticate(world.hub.url, { resume_token: fresh.body.resume_token })).status).to.equal(401);
      expect((await postJson(`${world.hub.url}/chatplugin.revokeResumeToken`, { conversation_id: '6f1c2d4e-1111-4222-8333-444455556666' }, system)).status).to.equal(404);
      expect((await postJson(`${world.hub.url}/chatplugin.revokeResumeToken`, {})).status).to.equal(401);
      const metrics = await (await fetch(`${world.hub.url}/metrics`)).text();
      expect(metrics).to.match(/^hub_chatplugin_revocations_total [2-9]\d*$/m);
      expect(metrics).to.match(/^hub_chatplugin_conversations_total\{via="resume"\} [1-9]\d*$/m);
    });
  });

  it('rate-limits chatplugin.authenticate per client address and chatplugin.send per visitor', async function () {
    this.timeout(30_000);
    const limited = await startHub(world.store.uri('chatplugin_limits'), { RATE_LIMIT_CHATPLUGIN_AUTH_PER_MINUTE: '3', RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '2' });
    try {
      const channel = await chatPluginChannel(limited.url);
      const answers = [];
      for (let i = 0; i < 4; i += 1) answers.push(await authenticate(limited.url, { channel_id: channel }));
      expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 429]);
      expect(answers[3]?.headers.get('retry-after')).to.match(/^\d+$/);
    } finally {
      await limited.close();
    }
    const sendLimited = await startHub(world.store.uri('chatplugin_limits2'), { RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '2' });
    try {
      const channel = await chatPluginChannel(sendLimited.url);
      const visitor = await newVisitor(sendLimited.url, channel);
      const results = await Promise.all([1, 2, 3].map((i) => pluginSend(sendLimited.url, visitor.token, `burst ${i}`)));
      expect(results.map((r) => r.status).sort()).to.deep.equal([200, 200, 429]);
    } finally {
      await sendLimited.close();
    }
  });

  it('resumes across a hub restart', async function () {
    this.timeout(60_000);
    const uri = world.store.uri('chatplugin_restart');
    let first: RunningHub | undefined = await startHub(uri);
    let resume: string;
    let cid: string;
    let oldToken: string;
    try {
      const channel = await chatPluginChannel(first.url);
      const visitor = await newVisitor(first.url, channel);
      cid = visitor.conversation_id;
      oldToken = visitor.token;
      await pluginSend(first.url, visitor.token, 'before the restart');
      resume = await resumeTokenOf(first.url, visitor.token);
    } finally {
      await first.close();
      first = undefined;
    }
    const second = await startHub(uri);
    try {
      const back = await authenticate(second.url, { resume_token: resume });
      expect(back.status, JSON.stringify(back.body)).to.equal(200);
      expect(back.body.conversation_id).to.equal(cid);
      expect(back.body.messages.map((m) => m.content.text)).to.deep.equal(['before the restart']);
      let resolveGot: (m: { message: SeedMessage }) => void = () => undefined;
      const got = new Promise<{ message: SeedMessage }>((resolve) => (resolveGot = resolve));
      await pluginSocket(second.url, back.body.token, (s) => s.on('message', resolveGot));
      expect((await pluginSend(second.url, back.body.token, 'after the restart')).status).to.equal(200);
      expect((await got).message.content.text).to.equal('after the restart');
      // Tokens are not kept in memory: one issued before the restart still works until it expires.
      const old = await pluginSend(second.url, oldToken, 'with the token from before');
      expect(old.status, JSON.stringify(old.body)).to.equal(200);
      expect(old.body.conversation_id).to.equal(cid);
    } finally {
      closeAllSockets();
      await second.close();
    }
  });

  it('closes a /ws.chatplugin socket when its token expires; the expired token is refused', async function () {
    this.timeout(30_000);
    const shortLived = await startHub(world.store.uri('chatplugin_expiry'), { CHATPLUGIN_TOKEN_TTL_SECONDS: '1' });
    try {
      const channel = await chatPluginChannel(shortLived.url);
      const visitor = await newVisitor(shortLived.url, channel);
      const errors: Array<{ code: string }> = [];
      const socket = await pluginSocket(shortLived.url, visitor.token, (s) => s.on('error', (e: { code: string }) => errors.push(e)));
      const reason = await new Promise<string>((resolve) => socket.once('disconnect', resolve));
      expect(reason).to.equal('io server disconnect');
      expect(errors.map((e) => e.code)).to.deep.equal(['UNAUTHORIZED']);
      const late = await pluginSend(shortLived.url, visitor.token, 'too late');
      expect(late.status).to.equal(401);
      expect(late.body).to.include({ error: 'token expired' });
    } finally {
      closeAllSockets();
      await shortLived.close();
    }
  });
});
