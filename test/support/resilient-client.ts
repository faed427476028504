import { io, type Socket } from 'socket.io-client';
import { sleep } from './clients.js';

export interface SeenMessage {
  id: string;
  seq: number;
  conversationId: string;
  type: string;
  text?: string;
  tag?: string;
  clientMessageId?: string;
  from?: { id: string };
}

/** 5 s in seq units (microseconds). */
const CATCH_UP_MARGIN = 5_000_000;

export interface ResilientOptions {
  url: string;
  token: string;
  conversationId: string;
  participant: { id: string; name: string };
  /** Connect from this loopback address (127.0.0.N): a balancer hashing client addresses spreads clients out. */
  localAddress?: string;
  transports?: Array<'websocket' | 'polling'>;
}

/**
 * A chat client as a real one should be written against the hub (contract §3, §7): it
 * reconnects by itself, rejoins with `afterSeq` = the last seq it holds (paging while
 * `hasMore`), keeps its messages by id in seq order, and retries an unacknowledged send with
 * the same clientMessageId until it is acked. It notes what it was handed twice on one
 * connection, so a test can tell a hub's repeat from the join/live overlap clients de-duplicate.
 */
export class ResilientClient {
  readonly socket: Socket;
  /** Every message this client holds, by id. */
  readonly messages = new Map<string, SeenMessage>();
  /** Acked sends, in the order they were acked. */
  readonly acked: SeenMessage[] = [];
  /** Ids that came twice as messageArrived on one connection. */
  readonly liveRepeats: string[] = [];
  /** Ids of this client's sends that were acked only after a try without an ack. */
  readonly retried = new Set<string>();
  connects = 0;
  private liveIds = new Set<string>();
  /** The highest seq of anything received (activities too): where a catch-up starts. */
  private maxSeq = 0;
  private joined: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ResilientOptions) {
    this.socket = io(options.url, {
      transports: options.transports ?? ['websocket'],
      auth: { token: options.token },
      forceNew: true,
      reconnection: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 800,
      randomizationFactor: 0.3,
      timeout: 5000,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    } as Parameters<typeof io>[1]);
    this.socket.on('messageArrived', (m: SeenMessage) => {
      if (m.conversationId !== options.conversationId) return;
      this.maxSeq = Math.max(this.maxSeq, m.seq ?? 0);
      if (m.type !== 'ChatMessage') return;
      if (this.liveIds.has(m.id)) this.liveRepeats.push(m.id);
      this.liveIds.add(m.id);
      this.messages.set(m.id, m);
    });
    this.socket.on('connect', () => {
      this.connects += 1;
      this.liveIds = new Set();
      this.joined = this.join();
    });
  }

  /** Resolves once connected and joined (the first time). */
  async ready(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.connects === 0) {
      if (Date.now() > deadline) throw new Error(`client ${this.options.participant.id} never connected`);
      await sleep(20);
    }
    await this.joined;
  }


  /** Chat messages held, in seq order. */
  ordered(): SeenMessage[] {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Sends until acked, with one clientMessageId for every try. */
  async send(text: string, clientMessageId: string, giveUpMs = 60_000): Promise<SeenMessage> {
    const deadline = Date.now() + giveUpMs;
    let tries = 0;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`send ${clientMessageId} of ${this.options.participant.id} never acked`);
      if (!this.socket.connected) {
        await sleep(50);
        continue;
      }
      await this.joined.catch(() => undefined);
      tries += 1;
      try {
        const ack = (await this.socket.timeout(3000).emitWithAck('sendMessage', {
          conversationId: this.options.conversationId,
          type: 'ChatMessage',
          from: this.options.participant,
          to: [],
          text,
          clientMessageId,
        })) as { ok: boolean; message?: SeenMessage; error?: { code: string } };
        if (ack.ok && ack.message) {
          if (tries > 1) this.retried.add(ack.message.id);
          this.acked.push(ack.message);
          this.messages.set(ack.message.id, ack.message);
          this.maxSeq = Math.max(this.maxSeq, ack.message.seq);
          return ack.message;
        }
        // Refused (e.g. not joined yet on a fresh connection): try again shortly.
        await sleep(100);
      } catch {
        // No ack (the process died or the connection moved): the same clientMessageId again.
      }
    }
  }

  close(): void {
    this.closed = true;
    this.socket.close();
  }

  private async join(): Promise<void> {
    const { conversationId, participant } = this.options;
    // A few seconds (seq ≈ µs) before the last seq held: a message another process accepted at
    // the same moment may be stored just after a later seq (docs/protocol.md, catch-up); merged by id.
    let afterSeq = Math.max(0, this.maxSeq - CATCH_UP_MARGIN);
    for (let page = 0; page < 100 && !this.closed; page += 1) {
      const info = new Promise<{ messages: SeenMessage[]; hasMore: boolean }>((resolve) => {
        const handler = (payload: { conversation: { id: string }; messages: SeenMessage[]; hasMore: boolean }): void => {
          if (payload.conversation.id !== conversationId) return;
          this.socket.off('conversationInfo', handler);
          resolve(payload);
        };
        this.socket.on('conversationInfo', handler);
      });
      let ack: { ok: boolean };
      try {
        ack = (await this.socket.timeout(5000).emitWithAck('joinConversation', { conversationId, id: participant.id, name: participant.name, afterSeq })) as { ok: boolean };
      } catch {
        return; // the connection went away: the next connect joins again
      }
      if (!ack.ok) throw new Error(`join refused: ${JSON.stringify(ack)}`);
      const got = await info;
      for (const m of got.messages) {
        this.maxSeq = Math.max(this.maxSeq, m.seq);
        if (m.type === 'ChatMessage') this.messages.set(m.id, m);
      }
      if (!got.hasMore) return;
      afterSeq = got.messages[got.messages.length - 1]?.seq ?? afterSeq;
    }
  }
}
