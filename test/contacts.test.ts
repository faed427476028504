import { expect } from 'chai';
import { authenticate, bearer, chatPluginChannel, chatPluginWorld, pluginSend, type SeedMessage, system } from './support/chatplugin.js';
import { emitAck, joinedAgent, postJson } from './support/clients.js';

interface Identified {
  contact: { id: string; external_id: string | null; email: string | null; phone_number: string | null; metadata: Record<string, unknown>; created_at: string; updated_at: string };
  conversations: Array<{ id: string; channel: { id: string; source: string }; status: string; resume_token: string | null; last_message: SeedMessage | null }>;
}

let seq = 0;
const unique = (prefix: string): string => `${prefix}-${Date.now()}-${(seq += 1)}`;

describe('contacts.identify (§6, seed 004)', function () {
  const world = chatPluginWorld('contacts');

  const identify = (body: Record<string, unknown>, headers: Record<string, string> = system) =>
    postJson<Identified>(`${world.hub.url}/contacts.identify`, { channel_id: world.channelId, ...body }, headers);

  it('creates a contact with an open conversation; a second device resumes it, last message included', async () => {
    const externalId = unique('user');
    const email = `${unique('jane')}@Example.org`;
    const first = await identify({ external_id: externalId, email, metadata: { plan: 'pro', ip_address: '192.168.0.1' } });
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    const { contact } = first.body;
    expect(contact).to.include({ external_id: externalId, email: email.toLowerCase(), phone_number: null });
    expect(contact.metadata).to.deep.equal({ plan: 'pro', ip_address: '192.168.0.1' });
    expect(first.body.conversations).to.have.length(1);
    const [conversation] = first.body.conversations;
    expect(conversation).to.deep.include({ channel: { id: world.channelId, source: 'chat_plugin' }, status: 'queued', last_message: null });
    // The website hands the resume token to its chat plugin, which continues there.
    const widget = await authenticate(world.hub.url, { resume_token: conversation?.resume_token });
    expect(widget.status).to.equal(200);
    expect(widget.body.conversation_id).to.equal(conversation?.id);
    const sent = await pluginSend(world.hub.url, widget.body.token, 'hello from my laptop');

    // Later, on a phone: the same identity finds the same contact and conversation.
    const again = await identify({ external_id: externalId, metadata: { device: 'phone' } });
    expect(again.body.contact.id).to.equal(contact.id);
    expect(again.body.contact.metadata, 'metadata is merged').to.deep.equal({ plan: 'pro', ip_address: '192.168.0.1', device: 'phone' });
    expect(again.body.conversations.map((c) => c.id)).to.deep.equal([conversation?.id]);
    expect(again.body.conversations[0]?.last_message).to.deep.include({ id: sent.body.id, from_contact: true });
    const phone = await authenticate(world.hub.url, { resume_token: again.body.conversations[0]?.resume_token });
    expect(phone.body.messages.map((m) => m.content.text)).to.deep.equal(['hello from my laptop']);
  });

  it('finds a contact by external_id, then email, then phone number, and fills in what it lacked', async () => {
    const email = `${unique('max')}@example.org`;
    const created = await identify({ email });
    const id = created.body.contact.id;
    const phoneNumber = `+49 151 ${String(Date.now()).slice(-7)}`;
    const withPhone = await identify({ email: email.toUpperCase(), phone_number: phoneNumber });
    expect(withPhone.body.contact.id).to.equal(id);
    expect(withPhone.body.contact.phone_number).to.equal(phoneNumber.replace(/ /g, ''));
    const byPhone = await identify({ phone_number: phoneNumber.replace(/ /g, '') });
    expect(byPhone.body.contact.id).to.equal(id);
    const externalId = unique('ext');
    const withExternal = await identify({ phone_number: phoneNumber, external_id: externalId });
    expect(withExternal.body.contact).to.include({ id, external_id: externalId, email });
    expect((await identify({ external_id: externalId })).body.contact.id).to.equal(id);
  });

  it('answers 409 when identifiers belong to different contacts, and never merges them', async () => {
    const a = await identify({ external_id: unique('a'), email: `${unique('a')}@example.org` });
    const b = await identify({ external_id: unique('b'), email: `${unique('b')}@example.org` });
    const mixed = await postJson<{ code: string; error: string; details: Array<{ field: string; message: string }> }>(
      `${world.hub.url}/contacts.identify`,
      { channel_id: world.channelId, external_id: a.body.contact.external_id, email: b.body.contact.email },
      system,
    );
    expect(mixed.status).to.equal(409);
    expect(mixed.body.code).to.equal('CONFLICT');
    expect(mixed.body.details.map((d) => d.field)).to.deep.equal(['external_id', 'email']);
    expect(mixed.body.error).to.contain(a.body.contact.id).and.contain(b.body.contact.id);
    // The email of a contact with another external id: a different person.
    const other = await identify({ external_id: unique('c'), email: a.body.contact.email });
    expect(other.status).to.equal(409);
    // Nothing changed.
    const stillA = await identify({ email: a.body.contact.email });
    expect(stillA.body.contact).to.deep.include({ id: a.body.contact.id, external_id: a.body.contact.external_id });
    const metrics = await (await fetch(`${world.hub.url}/metrics`)).text();
    const conflicts = Number(/^hub_contacts_identified_total\{outcome="conflict"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(conflicts, 'conflicts are counted').to.be.at.least(2);
    expect(metrics).to.match(/^hub_contacts_identified_total\{outcome="created"\} [1-9]\d*$/m);
  });

  it('opens a new conversation once the last one ended, and lists both, newest first', async () => {
    const externalId = unique('user');
    const first = await identify({ external_id: externalId });
    const old = first.body.conversations[0];
    const { socket } = await joinedAgent(world.hub.url, old?.id ?? '', 'agent-ct-1');
    expect((await emitAck(socket, 'endConversation', { conversationId: old?.id })).ok).to.equal(true);
    const next = await identify({ external_id: externalId });
    expect(next.body.conversations).to.have.length(2);
    expect(next.body.conversations[1]).to.deep.include({ id: old?.id, status: 'ended' });
    expect(next.body.conversations[0]?.status).to.equal('queued');
    expect(next.body.conversations[0]?.id).to.not.equal(old?.id);
  });

  it('makes one contact and one conversation of concurrent identifies', async () => {
    const externalId = unique('race');
    const results = await Promise.all(Array.from({ length: 6 }, () => identify({ external_id: externalId })));
    expect(results.map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200, 200]);
    expect(new Set(results.map((r) => r.body.contact.id)).size).to.equal(1);
    expect(new Set(results.flatMap((r) => r.body.conversations.map((c) => c.id))).size).to.equal(1);
  });

  it('refuses missing identifiers, bad values, unknown or non-chat-plugin channels, and other credentials', async () => {
    const none = await postJson<{ details: Array<{ field: string }> }>(`${world.hub.url}/contacts.identify`, { channel_id: world.channelId, metadata: { a: 1 } }, system);
    expect(none.status).to.equal(400);
    expect(JSON.stringify(none.body)).to.contain('at least one of external_id, email or phone_number');
    expect((await identify({ email: 'not-an-email' })).status).to.equal(400);
    expect((await identify({ phone_number: 'call me' })).status).to.equal(400);
    expect((await identify({ external_id: 'x', metadata: { $where: 1 } })).status).to.equal(400);
    expect((await postJson(`${world.hub.url}/contacts.identify`, { channel_id: 'nope', external_id: 'x' }, system)).status).to.equal(404);
    const sms = await chatPluginChannel(world.hub.url, 'sms');
    expect((await postJson(`${world.hub.url}/contacts.identify`, { channel_id: sms, external_id: 'x' }, system)).status).to.equal(400);
    expect((await identify({ external_id: 'x' }, {})).status).to.equal(401);
    const visitor = await authenticate(world.hub.url, { channel_id: world.channelId });
    expect((await identify({ external_id: 'x' }, bearer(visitor.body.token))).status).to.equal(403);
  });
});
