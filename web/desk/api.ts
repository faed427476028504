/**
 * The desk's HTTP calls to the hub (same origin), each with the agent token as a bearer
 * credential. Answers that are not 2xx become an Error carrying the hub's readable message.
 */
import type { SeedMessage } from '../../src/contracts/wire.js';
import type { WireConversation } from '../../src/contracts/wire.js';

export type { SeedMessage };

export interface MessagesPage {
  data: SeedMessage[];
  pagination_data: { previous_cursor: string | null; next_cursor: string | null; total: number };
}

export class HubApi {
  constructor(private readonly token: string) {}

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (!res.ok) {
      let message = `${res.status} ${res.statusText}`;
      try {
        const err = (await res.json()) as { error?: string };
        if (err.error) message = err.error;
      } catch {
        // not JSON: keep the status line
      }
      throw new Error(message);
    }
    return res;
  }

  /** Waiting conversations (every subject this agent may see), oldest first. */
  async queued(): Promise<WireConversation[]> {
    const res = await this.call('GET', '/api/conversations?status=queued&page_size=100');
    return ((await res.json()) as { data: WireConversation[] }).data;
  }

  /** The page of chat messages before `cursor` (an `olderCursor` or a `previous_cursor`). */
  async olderMessages(conversationId: string, cursor: string): Promise<MessagesPage> {
    const res = await this.call('POST', '/messages.list', { conversation_id: conversationId, cursor, page_size: 50 });
    return (await res.json()) as MessagesPage;
  }

  async resend(messageId: string): Promise<void> {
    await this.call('POST', '/messages.resend', { message_id: messageId });
  }

  /** The transcript PDF of an ended conversation, as a Blob. */
  async transcriptPdf(conversationId: string): Promise<Blob> {
    const res = await this.call('GET', `/api/customer/transcript/${encodeURIComponent(conversationId)}/pdf`);
    return res.blob();
  }

  /** Mails the transcript to the customer's address, or to `to` when given. */
  async transcriptMail(conversationId: string, to: string): Promise<void> {
    const query = to ? `?${new URLSearchParams({ to }).toString()}` : '';
    await this.call('GET', `/api/customer/transcript/${encodeURIComponent(conversationId)}/email${query}`);
  }
}
