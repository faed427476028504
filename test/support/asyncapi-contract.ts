import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import specs from '@asyncapi/specs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { refPointer, resolveRef } from './json-pointer.js';

/** docs/asyncapi.yaml, from dist/test/support/. */
export const ASYNCAPI_PATH = fileURLToPath(new URL('../../../docs/asyncapi.yaml', import.meta.url));

const DOC_ID = 'https://chat-hub.invalid/asyncapi.yaml';

export type Action = 'send' | 'receive';

interface Ref {
  $ref: string;
}
interface OperationObject {
  action: Action;
  channel: Ref;
  messages?: Ref[];
  reply?: { channel?: Ref; messages?: Ref[] };
}
interface MessageObject {
  name?: string;
  payload?: unknown;
}
export interface AsyncApiDocument {
  asyncapi: string;
  channels: Record<string, { address?: string; messages?: Record<string, MessageObject | Ref>; 'x-socketio'?: Record<string, unknown> }>;
  operations: Record<string, OperationObject>;
  components: Record<string, Record<string, unknown>>;
}

const isRef = (value: unknown): value is Ref => typeof value === 'object' && value !== null && typeof (value as Ref).$ref === 'string';

export function readAsyncApiDocument(): AsyncApiDocument {
  return parse(readFileSync(ASYNCAPI_PATH, 'utf8'), { uniqueKeys: true }) as AsyncApiDocument;
}

/**
 * docs/asyncapi.yaml as a checker of real Socket.IO traffic: which events a channel carries in which
 * direction, and whether a payload or an acknowledgement validates against the message schema the
 * document gives for it (AsyncAPI schema format, a superset of JSON Schema draft-07).
 */
export class AsyncApiContract {
  readonly doc: AsyncApiDocument;
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(doc: AsyncApiDocument = readAsyncApiDocument()) {
    this.doc = doc;
    this.ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, allowUnionTypes: true });
    addFormats.default(this.ajv);
    // As for the OpenAPI document: registered as a schema so fragments and their refs compile.
    this.ajv.addVocabulary(['asyncapi', 'info', 'servers', 'defaultContentType', 'channels', 'operations', 'components']);
    this.ajv.addSchema(doc as object, DOC_ID, undefined, false);
  }

  /** Errors of the document against the official AsyncAPI JSON Schema of its version (@asyncapi/specs). */
  schemaErrors(): string[] {
    const schemas = specs.schemas as Record<string, object>;
    const schema = schemas[this.doc.asyncapi];
    if (!schema) return [`@asyncapi/specs has no schema for AsyncAPI ${this.doc.asyncapi}`];
    // The bundle carries its own copy of the draft-07 meta-schema, so ajv's must stay out.
    const ajv = new Ajv({ allErrors: true, strict: false, meta: false });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    return validate(this.doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`);
  }

  /**
   * What the JSON Schema cannot say: every $ref resolves, an operation's messages (and its reply's) are
   * messages of its channel, and every message has a name.
   */
  structureErrors(): string[] {
    const errors: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((item, i) => walk(item, `${at}/${i}`));
      else if (node && typeof node === 'object') {
        if (isRef(node)) {
          try {
            this.resolve(node.$ref);
          } catch (err) {
            errors.push(`${at}: ${(err as Error).message}`);
          }
        }
        for (const [key, value] of Object.entries(node)) walk(value, `${at}/${key}`);
      }
    };
    walk(this.doc, '');
    for (const [id, op] of Object.entries(this.doc.operations)) {
      const check = (channel: Ref | undefined, messages: Ref[] | undefined, what: string): void => {
        const prefix = `${channel?.$ref ?? op.channel.$ref}/messages/`;
        for (const m of messages ?? []) if (!m.$ref.startsWith(prefix)) errors.push(`operation ${id}: ${what} message ${m.$ref} is not a message of ${prefix.slice(0, -10)}`);
      };
      check(op.channel, op.messages, 'its');
      if (op.reply) check(op.reply.channel, op.reply.messages, 'reply');
    }
    for (const [key, channel] of Object.entries(this.doc.channels)) {
      for (const [name, message] of Object.entries(channel.messages ?? {})) {
        if (!this.message(message).name) errors.push(`channels.${key}.messages.${name} has no name`);
      }
    }
    return errors;
  }

  /** Compiles every message payload and handshake schema (strict: an unknown keyword fails). */
  compileAll(): void {
    for (const [name, message] of Object.entries(this.doc.components['messages'] ?? {})) {
      if ((message as MessageObject).payload !== undefined) this.validator(['components', 'messages', name, 'payload']);
    }
    for (const key of Object.keys(this.doc.channels)) {
      for (const part of ['auth', 'connectError']) this.validator(['channels', key, 'x-socketio', part]);
    }
  }

  /** Event names of `channel`'s operations with `action` (receive: clients emit them; send: the hub does). */
  events(channel: string, action: Action): string[] {
    const names = new Set<string>();
    for (const op of this.operationsOn(channel, action)) for (const m of op.messages ?? []) names.add(this.message(m).name ?? '');
    return [...names].sort();
  }

  /** Event names operation `id` carries. */
  eventsOf(id: string): string[] {
    return (this.doc.operations[id]?.messages ?? []).map((m) => this.message(m).name ?? '');
  }

  /** Why `payload` of `event` on `channel` does not match the document; empty when it does. */
  payloadErrors(channel: string, action: Action, event: string, payload: unknown): string[] {
    const refs = this.operationsOn(channel, action).flatMap((op) => op.messages ?? []);
    const ref = refs.find((m) => this.message(m).name === event);
    if (!ref) return [`no ${action} operation on channel ${channel} carries "${event}"`];
    return this.check(this.payloadPointer(ref), payload);
  }

  /** Why `reply` to operation `operationId` does not match its documented reply; empty when it does. */
  replyErrors(operationId: string, reply: unknown): string[] {
    const ref = this.doc.operations[operationId]?.reply?.messages?.[0];
    if (!ref) return [`operation ${operationId} has no documented reply`];
    return this.check(this.payloadPointer(ref), reply);
  }

  /** The operation of `channel` with `action` that carries `event`. */
  operationId(channel: string, action: Action, event: string): string | undefined {
    return Object.entries(this.doc.operations).find(
      ([, op]) => op.action === action && op.channel.$ref === `#/channels/${channel}` && (op.messages ?? []).some((m) => this.message(m).name === event),
    )?.[0];
  }

  /** Why a handshake detail (`auth` or `connectError`) of `channel` does not match; empty when it does. */
  handshakeErrors(channel: string, part: 'auth' | 'connectError', value: unknown): string[] {
    return this.check(['channels', channel, 'x-socketio', part], value);
  }

  private operationsOn(channel: string, action: Action): OperationObject[] {
    return Object.values(this.doc.operations).filter((op) => op.action === action && op.channel.$ref === `#/channels/${channel}`);
  }

  private message(value: MessageObject | Ref): MessageObject {
    return (isRef(value) ? this.message(this.resolve(value.$ref) as MessageObject | Ref) : value) as MessageObject;
  }

  /** The pointer of the payload of the message a channel message ref ends at. */
  private payloadPointer(ref: Ref): string[] {
    let pointer = refPointer(ref.$ref);
    let node = this.resolve(ref.$ref);
    while (isRef(node)) {
      pointer = refPointer(node.$ref);
      node = this.resolve(node.$ref);
    }
    return [...pointer, 'payload'];
  }

  private check(pointer: string[], value: unknown): string[] {
    const validate = this.validator(pointer);
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  }

  private validator(pointer: string[]): ValidateFunction {
    const ref = `${DOC_ID}#/${pointer.map((s) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/')}`;
    let validate = this.validators.get(ref);
    if (!validate) {
      validate = this.ajv.getSchema(ref);
      if (!validate) throw new Error(`docs/asyncapi.yaml has no schema at ${ref}`);
      this.validators.set(ref, validate);
    }
    return validate;
  }

  private resolve(ref: string): unknown {
    return resolveRef(this.doc, ref);
  }
}
