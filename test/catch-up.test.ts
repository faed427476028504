import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { connect, emitAck, joinedAgent, joinedCustomer, nextEvent, type AnyAck } from './support/clients.js';
import { hubSuite } from './support/hub-suite.js';

type Wire = { id: string; seq: number; type: string; text?: string; tag?: string };
type Info = { messages: Wire[]; hasMore: boolean; olderCursor: string | null };

/**
 * joinConversation {afterSeq} (contract §3, catch-up; issue 15, item 3): a client that
 * reconnects gets exactly the messages after the last seq it has that it may see, oldest first,
 * paged with hasMore, read from the database (so on any hub process): nothing lost, nothing twice.
 */
describe('joinConversation catch-up with afterSeq', function () {
  this.timeout(60_000);
  const suite = hubSuite('catch_up', { RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000', RATE_LIMIT_JOINS_PER_MINUTE: '1000' });

  /** A new socket joins with afterSeq; an agent's socket first gets the conversationInfo of each conversation it holds, at connect. */
  async function rejoin(token: string, conversationId: string, id: string, afterSeq: unknown, agent = false): Promise<{ ack: AnyAck; info?: Info; socket: Socket }> {
    let atConnect: Promise<unknown> = Promise.resolve();
    const socket = await connect(suite.hub.url, { token }, (s) => {
      if (agent) atConnect = nextEvent(s, 'conversationInfo');
    });
    await atConnect;
    const info = nextEvent<Info>(socket, 'conversationInfo');
    const ack = await emitAck(socket, 'joinConversation', { conversationId, id, name: 'x', afterSeq });
    return ack.ok ? { ack, info: await info, socket } : { ack, socket };
  }

  it('answers exactly the visible messages after afterSeq, whispers only to staff, and pages with hasMore', async () => {
    const customer = await joinedCustomer(suite.hub.url);
    const cid = customer.init.conversationId;
    const agent = await joinedAgent(suite.hub.url, cid, 'agent-catch-up');
    const me = customer.init.participant;
    const sent: Wire[] = [];
    for (let i = 1; i <= 110; i += 1) {
      const fromAgent = i % 2 === 0;
      const ack = await emitAck(fromAgent ? agent.socket : customer.socket, 'sendMessage', {
        conversationId: cid,
        type: 'ChatMessage',
        from: fromAgent ? { id: 'agent-catch-up', name: 'A' } : { id: me.id, name: me.name },
        to: [],
        text: `m${i}`,
        ...(i % 10 === 0 ? { tag: 'whisper' } : {}),
      });
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      sent.push((ack as unknown as { message: Wire }).message);
    }
    const anchor = sent[4]!; // m5
    const expected = (staff: boolean) => sent.filter((m) => m.seq > anchor.seq && (staff || m.tag !== 'whisper')).map((m) => m.text);

    // The customer: no whispers; 94 visible after m5, within one page of 100.
    const c = await rejoin(customer.init.token, cid, me.id, anchor.seq);
    expect(c.ack.ok, JSON.stringify(c.ack)).to.equal(true);
    const customerTexts = c.info!.messages.filter((m) => m.type === 'ChatMessage').map((m) => m.text);
    expect(customerTexts).to.deep.equal(expected(false));
    expect(c.info!.hasMore).to.equal(false);
    expect(c.info!.olderCursor).to.equal(null);
    const seqs = c.info!.messages.map((m) => m.seq);
    expect(seqs, 'oldest first, all after afterSeq').to.deep.equal([...seqs].sort((a, b) => a - b));
    expect(Math.min(...seqs)).to.be.greaterThan(anchor.seq);

    // The agent: whispers too; after the first message, more than one page: the second page is the rest, nothing twice.
    const agentToken = (agent.socket.auth as { token: string }).token;
    const first = await rejoin(agentToken, cid, 'agent-catch-up', sent[0]!.seq, true);
    expect(first.info!.messages).to.have.length(100);
    expect(first.info!.hasMore).to.equal(true);
    const last = first.info!.messages[first.info!.messages.length - 1]!;
    const second = await rejoin(agentToken, cid, 'agent-catch-up', last.seq, true);
    expect(second.info!.hasMore, `second page: ${second.info!.messages.length} messages, ${JSON.stringify(second.info!.messages.slice(-3).map((m) => [m.seq, m.type, m.text]))}`).to.equal(false);
    const all = [...first.info!.messages, ...second.info!.messages];
    expect(new Set(all.map((m) => m.id)).size, 'nothing twice').to.equal(all.length);
    const agentTexts = all.filter((m) => m.type === 'ChatMessage').map((m) => m.text);
    expect(agentTexts).to.deep.equal(sent.slice(1).map((m) => m.text));

    // Caught up: nothing after the newest seq.
    const newest = Math.max(...all.map((m) => m.seq));
    const none = await rejoin(agentToken, cid, 'agent-catch-up', newest, true);
    expect(none.info!.messages).to.deep.equal([]);
    expect(none.info!.hasMore).to.equal(false);
  });

  it('refuses a bad afterSeq with BAD_REQUEST naming it', async () => {
    const customer = await joinedCustomer(suite.hub.url);
    for (const bad of [-1, 1.5, 'x', Number.MAX_SAFE_INTEGER + 2]) {
      const r = await rejoin(customer.init.token, customer.init.conversationId, customer.init.participant.id, bad);
      expect(r.ack.ok, String(bad)).to.equal(false);
      if (!r.ack.ok) {
        expect(r.ack.error.code).to.equal('BAD_REQUEST');
        expect(r.ack.error.message).to.contain('afterSeq');
      }
    }
  });
});
