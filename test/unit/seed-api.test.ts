import { expect } from 'chai';
import type { Principal } from '../../src/auth/token.service.js';
import { HubError } from '../../src/contracts/errors.js';
import { normalizeIdentifiers } from '../../src/domain/contacts.service.js';
import { MessagesApiService, type MessagePage } from '../../src/domain/messages-api.service.js';
import type { ChatMessageStore, ChatViewer, SeqRange } from '../../src/domain/ports.js';
import type { Conversation, StoredMessage } from '../../src/domain/types.js';
import { storedMessage } from './fixtures.js';

/** The chat message reads of the message store, over an array. */
class MemoryChat implements ChatMessageStore {
  constructor(readonly messages: StoredMessage[]) {}
  private visible(cid: string, viewer: ChatViewer): StoredMessage[] {
    return this.messages
      .filter((m) => m.conversationId === cid && m.type === 'ChatMessage')
      .filter((m) => viewer === 'all' || ((viewer.staff || m.tag !== 'whisper') && (m.audience.includes('*') || m.audience.includes(viewer.id))))
      .sort((a, b) => a.seq - b.seq);
  }
  async chatMessages(cid: string, viewer: ChatViewer, range: SeqRange, limit: number): Promise<StoredMessage[]> {
    const all = this.visible(cid, viewer);
    if ('afterSeq' in range) return all.filter((m) => m.seq > range.afterSeq).slice(0, limit);
    const before = all.filter((m) => m.seq < range.beforeSeq);
    return before.slice(Math.max(0, before.length - limit));
  }
  async countChatMessages(cid: string, viewer: ChatViewer): Promise<number> {
    return this.visible(cid, viewer).length;
  }
  async setMetadata(): Promise<StoredMessage | null> {
    return null;
  }
}

const SYSTEM: Principal = { kind: 'system' };

function service(chat: MemoryChat, cid: string): MessagesApiService {
  const cache = { get: async (id: string) => (id === cid ? ({ id } as Conversation) : null) };
  return new MessagesApiService(cache as never, chat, {} as never, {} as never, {} as never, {} as never, { emit: () => undefined });
}

const texts = (page: MessagePage): string[] => page.data.map((m) => m.content.text);

describe('seed messages API (unit)', () => {
  describe('messages.list pages', () => {
    it('walks forwards and back over exactly-full, partial and empty pages', async () => {
      const cid = 'conv-a';
      const chat = new MemoryChat(Array.from({ length: 6 }, () => storedMessage(cid)));
      const api = service(chat, cid);
      const names = chat.messages.map((m) => m.text ?? '');
      const first = await api.list(SYSTEM, { conversation_id: cid, page_size: 3 });
      expect(texts(first)).to.deep.equal(names.slice(0, 3));
      const second = await api.list(SYSTEM, { conversation_id: cid, page_size: 3, cursor: first.pagination_data.next_cursor ?? '' });
      expect(texts(second)).to.deep.equal(names.slice(3));
      // Six messages in pages of three: the second page is full and nothing follows.
      expect(second.pagination_data.next_cursor).to.equal(null);
      expect(second.pagination_data.total).to.equal(6);
      const back = await api.list(SYSTEM, { conversation_id: cid, page_size: 2, cursor: second.pagination_data.previous_cursor ?? '' });
      expect(texts(back), 'backwards: the two right before').to.deep.equal(names.slice(1, 3));
      const further = await api.list(SYSTEM, { conversation_id: cid, page_size: 2, cursor: back.pagination_data.previous_cursor ?? '' });
      expect(texts(further)).to.deep.equal(names.slice(0, 1));
      expect(further.pagination_data.previous_cursor).to.equal(null);
    });

    it('an empty conversation is one empty page; a cursor at the end leads back', async () => {
      const api = service(new MemoryChat([]), 'conv-empty');
      const page = await api.list(SYSTEM, { conversation_id: 'conv-empty', page_size: 5 });
      expect(page).to.deep.equal({ data: [], pagination_data: { previous_cursor: null, next_cursor: null, total: 0 } });
      const cid = 'conv-b';
      const chat = new MemoryChat([storedMessage(cid), storedMessage(cid)]);
      const full = service(chat, cid);
      const first = await full.list(SYSTEM, { conversation_id: cid, page_size: 1 });
      const last = await full.list(SYSTEM, { conversation_id: cid, page_size: 1, cursor: first.pagination_data.next_cursor ?? '' });
      expect(last.pagination_data.next_cursor).to.equal(null);
      expect(texts(await full.list(SYSTEM, { conversation_id: cid, page_size: 5, cursor: last.pagination_data.previous_cursor ?? '' }))).to.deep.equal([chat.messages[0]?.text]);
    });

    it('refuses cursors of other conversations and forged positions', async () => {
      const chat = new MemoryChat([storedMessage('conv-c'), storedMessage('conv-c'), storedMessage('conv-d')]);
      const page = await service(chat, 'conv-c').list(SYSTEM, { conversation_id: 'conv-c', page_size: 1 });
      const refused = await service(chat, 'conv-d')
        .list(SYSTEM, { conversation_id: 'conv-d', page_size: 1, cursor: page.pagination_data.next_cursor ?? '' })
        .then(() => undefined, (err: unknown) => err);
      expect(refused).to.be.instanceOf(HubError).and.have.property('code', 'BAD_REQUEST');
      for (const position of [['conv-c', 'a', -1], ['conv-c', 'a', 1.5], ['conv-c', 'z', 1], ['c', 1, 2]]) {
        const forged = Buffer.from(JSON.stringify(['m', ...position])).toString('base64url');
        const err = await service(chat, 'conv-c')
          .list(SYSTEM, { conversation_id: 'conv-c', page_size: 1, cursor: forged })
          .then(() => undefined, (e: unknown) => e);
        expect(err, JSON.stringify(position)).to.be.instanceOf(HubError);
      }
    });

    it('hides whispers and messages addressed to others from a customer, not from the system', async () => {
      const cid = 'conv-e';
      const chat = new MemoryChat([
        storedMessage(cid, { text: 'public' }),
        storedMessage(cid, { text: 'whisper', tag: 'whisper' }),
        storedMessage(cid, { text: 'to someone else', audience: ['other', 'agent'] }),
      ]);
      const api = service(chat, cid);
      const customer: Principal = { kind: 'customer', participantId: 'cust', conversationId: cid, name: 'C' };
      expect(texts(await api.list(customer, { conversation_id: cid, page_size: 10 }))).to.deep.equal(['public']);
      expect((await api.list(SYSTEM, { conversation_id: cid, page_size: 10 })).pagination_data.total).to.equal(3);
    });
  });

  describe('contact identifiers', () => {
    it('compares emails in lower case and phone numbers by digits and a leading +', () => {
      expect(normalizeIdentifiers({ channel_id: 'c', email: ' Jane@Example.ORG ', phone_number: '+49 (151) 123-45.67', external_id: 'Ext-1' })).to.deep.equal({
        externalId: 'Ext-1',
        email: 'jane@example.org',
        phoneNumber: '+491511234567',
      });
      expect(normalizeIdentifiers({ channel_id: 'c', phone_number: '0151 123' }).phoneNumber).to.equal('0151123');
    });
  });
});
