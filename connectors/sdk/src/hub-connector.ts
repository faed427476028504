import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { io, type Socket } from 'socket.io-client';
import { Backoff } from './backoff.js';
import type { MessageHandler } from './delivery.js';
import { ConnectorAuthError, HubRequestError } from './errors.js';
import { createConnectorLogger } from './logger.js';
import { OutboundDispatcher } from './outbound-dispatcher.js';
import type { ConnectorToHubEvents, HubAck, HubMessage, HubToConnectorEvents, InboundMessagePayload, MessageStatusPayload, ConnectorInfo } from './protocol.js';
import type { ConnectorConfig } from './connector-env.js';
import type { HubConnectorEvents, HubConnectorOptions, InboundInput, InboundResult } from './connector.types.js';
import { ReadyGate } from './ready-gate.js';

type ConnectorSocket = Socket<HubToConnectorEvents, ConnectorToHubEvents>;

/**
 * The connector's link to the hub: registers with its key, re-registers after every
 * reconnect, turns `messageArrived` into handler calls and acks, and sends inbound
 * messages and delivery reports with bounded waits.
 */
export class HubConnector extends EventEmitter<HubConnectorEvents> {
  readonly id: string;
  readonly name: string;
  readonly hubUrl: string;
  private readonly key: string;
  private readonly log: Logger;
  private readonly ackTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly reconnectDelayMs: number;
  private readonly reconnectDelayMaxMs: number;
  private readonly backoff: Backoff;
  private readonly dispatcher: OutboundDispatcher;

  private socket: ConnectorSocket | undefined;
  private isRegistered = false;
  private registrations = 0;
  /** Bumped on every connect and disconnect, so a late registration ack of an old connection is ignored. */
  private connection = 0;
  private closed = false;
  private fatal: ConnectorAuthError | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private registerTimer: NodeJS.Timeout | undefined;
  private startPromise: Promise<void> | undefined;
  private settleStart: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private closePromise: Promise<void> | undefined;
  /** Requests wait here for a registered connection; woken on registration, auth failure and close. */
  private readonly ready = new ReadyGate<ConnectorSocket>(() => {
    if (this.fatal) return { error: new HubRequestError('UNAUTHORIZED', this.fatal.message) };
    if (this.closed) return { error: new HubRequestError('UNAVAILABLE', 'connector is closed') };
    if (this.isRegistered && this.socket?.connected) return { value: this.socket };
    return undefined;
  });

  constructor(options: HubConnectorOptions) {
    super();
    if (!options.key) throw new ConnectorAuthError(`connector "${options.id}": no key given (set its CONNECTOR_KEYS entry)`);
    this.hubUrl = options.hubUrl;
    this.id = options.id;
    this.name = options.name;
    this.key = options.key;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    const handlerTimeoutMs = options.handlerTimeoutMs ?? 20_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? handlerTimeoutMs;
    this.reconnectDelayMs = options.reconnectDelayMs ?? 500;
    this.reconnectDelayMaxMs = options.reconnectDelayMaxMs ?? 10_000;
    this.backoff = new Backoff(this.reconnectDelayMs, this.reconnectDelayMaxMs);
    const logger = options.logger ?? createConnectorLogger();
    // Bound once: a logger from createConnectorLogger({connector}) already carries it.
    this.log = logger.bindings()['connector'] === this.id ? logger : logger.child({ connector: this.id });
    this.dispatcher = new OutboundDispatcher(this.log, handlerTimeoutMs);
  }

  /** The link for a connector configured with loadConnectorConfig(): its hubUrl, connectorId, connectorName and connectorKey. */
  static fromConfig(
    config: Pick<ConnectorConfig, 'hubUrl' | 'connectorId' | 'connectorName' | 'connectorKey'>,
    options: Omit<HubConnectorOptions, 'hubUrl' | 'id' | 'name' | 'key'> = {},
  ): HubConnector {
    return new HubConnector({ ...options, hubUrl: config.hubUrl, id: config.connectorId, name: config.connectorName, key: config.connectorKey });
  }

  /** True while connected and registered. */
  get registered(): boolean {
    return this.isRegistered;
  }

  /** Sets the outbound handler: called once per `messageArrived`, concurrently across conversations. */
  onMessage(handler: MessageHandler): this {
    this.dispatcher.setHandler(handler);
    return this;
  }

  /** Connects and registers; resolves once registered, rejects with ConnectorAuthError on a refused key. */
  start(): Promise<void> {
    if (this.startPromise) return this.startPromise;
    if (this.closed) return Promise.reject(new Error('connector is closed'));
    this.startPromise = new Promise<void>((resolve, reject) => (this.settleStart = { resolve, reject }));
    const socket: ConnectorSocket = io(this.hubUrl, {
      auth: { connectorKey: this.key },
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: this.reconnectDelayMs,
      reconnectionDelayMax: this.reconnectDelayMaxMs,
      randomizationFactor: 0.5,
      autoConnect: false,
      forceNew: true,
    });
    this.socket = socket;
    socket.on('connect', () => this.onConnect(socket));
    socket.on('disconnect', (reason) => this.onDisconnect(socket, reason));
    socket.on('connect_error', (err) => this.onConnectError(socket, err));
    socket.on('messageArrived', (message, ack) => void this.dispatcher.handle(message, ack));
    socket.on('error', (body) => this.log.warn({ event: 'hub_error', code: body?.error?.code, error: body?.error?.message }, 'the hub reported an error'));
    socket.io.on('reconnect_attempt', (attempt) => this.log.debug({ event: 'reconnect_attempt', attempt }, 'reconnecting to the hub'));
    this.log.info({ event: 'connecting', hubUrl: this.hubUrl }, 'connecting to the hub');
    socket.connect();
    return this.startPromise;
  }

  /** Relays a customer's message; resolves with the hub's ack, rejects HubRequestError. */
  async sendInbound(input: InboundInput): Promise<InboundResult> {
    const payload: InboundMessagePayload = {
      type: 'ChatMessage',
      channel: this.id,
      refId: input.refId,
      clientMessageId: input.clientMessageId ?? randomUUID(),
    };
    if (input.name !== undefined) payload.from = { name: input.name };
    if (input.text !== undefined) payload.text = input.text;
    if (input.attachments !== undefined) payload.attachments = input.attachments;
    if (input.metadata !== undefined) payload.metadata = input.metadata;
    if (input.customer !== undefined) payload.customer = input.customer;
    const ack = await this.request('sendMessage', (socket, ms) => socket.timeout(ms).emitWithAck('sendMessage', payload));
    this.log.info({ event: 'inbound_stored', messageId: ack.message?.id, conversationId: ack.conversationId }, 'inbound message stored');
    return { conversationId: ack.conversationId, message: ack.message };
  }

  /** Reports a later delivery outcome for a message acked PENDING; resolves with the updated message. */
  async reportStatus(payload: MessageStatusPayload): Promise<HubMessage> {
    const ack = await this.request('messageStatus', (socket, ms) => socket.timeout(ms).emitWithAck('messageStatus', payload));
    this.log.info({ event: 'status_reported', messageId: payload.messageId, state: payload.state }, 'delivery status reported');
    return ack.message;
  }

  /** Stops taking outbound messages, waits (bounded) for running handlers, then disconnects. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.dispatcher.stop();
    this.log.info({ event: 'closing', running: this.dispatcher.running }, 'closing the hub connection');
    if (!(await this.dispatcher.drain(this.closeTimeoutMs))) {
      this.log.warn({ event: 'close_timeout', running: this.dispatcher.running, timeoutMs: this.closeTimeoutMs }, 'handlers still running at close');
    }
    this.closed = true;
    this.isRegistered = false;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.registerTimer);
    this.socket?.close();
    this.settleStart?.reject(new Error('connector closed before it registered'));
    this.settleStart = undefined;
    this.ready.wake();
    this.log.info({ event: 'closed' }, 'hub connection closed');
  }

  private onConnect(socket: ConnectorSocket): void {
    this.connection += 1;
    void this.register(socket, this.connection);
  }

  private async register(socket: ConnectorSocket, connection: number): Promise<void> {
    const reconnect = this.registrations > 0;
    this.log.info({ event: 'registering', reconnect }, reconnect ? 're-registering after a reconnect' : 'registering with the hub');
    const payload = { id: this.id, name: this.name, channel: this.id, key: this.key };
    let ack: HubAck<{ connector: ConnectorInfo }>;
    try {
      ack = await socket.timeout(this.ackTimeoutMs).emitWithAck('registerConnector', payload);
    } catch (err) {
      // A dropped connection registers again on its next connect; a silent hub is asked again.
      if (connection !== this.connection || this.closed) return;
      this.log.warn({ event: 'register_timeout', err: (err as Error).message }, 'no registration ack from the hub; retrying');
      return this.retryRegistration(socket, connection);
    }
    if (this.closed) return;
    // Checked before staleness: the hub disconnects right after refusing a key, and that
    // disconnect is processed before this continuation runs.
    if (!ack.ok && ack.error?.code === 'UNAUTHORIZED') return this.failAuth(`the hub refused the key of connector "${this.id}": ${ack.error.message}`);
    if (connection !== this.connection) return;
    if (!ack.ok) {
      this.log.warn({ event: 'register_refused', code: ack.error?.code, error: ack.error?.message }, 'registration refused; retrying');
      return this.retryRegistration(socket, connection);
    }
    this.isRegistered = true;
    this.registrations += 1;
    this.backoff.reset();
    this.log.info({ event: 'registered', reconnect, socketId: socket.id }, reconnect ? 'registered again after a reconnect' : 'registered with the hub');
    this.ready.wake();
    this.settleStart?.resolve();
    this.settleStart = undefined;
    this.emit('registered', { connector: ack.connector, reconnect });
  }

  private retryRegistration(socket: ConnectorSocket, connection: number): void {
    const delay = this.backoff.next();
    clearTimeout(this.registerTimer);
    this.registerTimer = setTimeout(() => {
      this.registerTimer = undefined;
      if (connection === this.connection && socket.connected && !this.closed) void this.register(socket, connection);
    }, delay);
  }

  private onDisconnect(socket: ConnectorSocket, reason: string): void {
    this.connection += 1;
    this.isRegistered = false;
    if (this.closed || this.fatal) return;
    this.log.warn({ event: 'disconnected', reason }, 'disconnected from the hub');
    this.emit('disconnected', reason);
    // socket.io reconnects by itself except when the server closed the socket on purpose.
    if (!socket.active) this.scheduleReconnect(socket);
  }

  private onConnectError(socket: ConnectorSocket, err: Error): void {
    if (this.closed || this.fatal) return;
    const data = (err as Error & { data?: { code?: unknown; message?: unknown } }).data;
    if (data?.code === 'UNAUTHORIZED') {
      return this.failAuth(`the hub refused the key of connector "${this.id}": ${typeof data.message === 'string' ? data.message : err.message}`);
    }
    this.log.warn({ event: 'connect_error', error: err.message, code: data?.code }, 'could not connect to the hub');
    // A refusal by the hub's middleware leaves the socket inactive: socket.io will not retry it.
    if (!socket.active) this.scheduleReconnect(socket);
  }

  private scheduleReconnect(socket: ConnectorSocket): void {
    if (this.reconnectTimer || this.closed || this.fatal) return;
    const delayMs = this.backoff.next();
    this.log.info({ event: 'reconnect_scheduled', delayMs }, 'reconnecting to the hub');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closed && !this.fatal) socket.connect();
    }, delayMs);
  }

  private failAuth(message: string): void {
    const err = new ConnectorAuthError(message);
    this.fatal = err;
    this.isRegistered = false;
    this.log.error({ event: 'unauthorized' }, `${message}; not reconnecting`);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.registerTimer);
    this.socket?.close();
    // During start() the rejection of start() reports it; afterwards only the event can.
    const starting = this.settleStart !== undefined;
    this.settleStart?.reject(err);
    this.settleStart = undefined;
    this.ready.wake();
    if (!starting) this.emit('authFailed', err);
  }

  /**
   * Sends one request and returns its success ack. If the connection drops before the ack,
   * the same payload is sent again after re-registration (the hub de-duplicates by
   * clientMessageId), until ackTimeoutMs has passed in all.
   */
  private async request<T extends object>(
    event: keyof ConnectorToHubEvents,
    send: (socket: ConnectorSocket, timeoutMs: number) => Promise<HubAck<T>>,
  ): Promise<{ ok: true } & T> {
    const deadline = Date.now() + this.ackTimeoutMs;
    for (let attempt = 1; ; attempt += 1) {
      const socket = await this.ready.wait(deadline, () => new HubRequestError('UNAVAILABLE', `not connected to the hub within ${this.ackTimeoutMs} ms`));
      const connection = this.connection;
      let ack: HubAck<T>;
      try {
        ack = await send(socket, Math.max(1, deadline - Date.now()));
      } catch (err) {
        const dropped = connection !== this.connection;
        if (dropped && Date.now() < deadline) {
          this.log.warn({ event: 'request_retry', request: event, attempt }, 'connection dropped before the ack; sending again');
          continue;
        }
        throw new HubRequestError('UNAVAILABLE', `no ack from the hub for ${event} within ${this.ackTimeoutMs} ms (${(err as Error).message})`);
      }
      if (ack.ok) return ack;
      throw new HubRequestError(ack.error?.code ?? 'INTERNAL', ack.error?.message ?? 'the hub refused the request', ack.error?.details);
    }
  }
}
