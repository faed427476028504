import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { refPointer, resolveRef } from './json-pointer.js';

/** docs/openapi.yaml, from dist/test/support/. */
export const OPENAPI_PATH = fileURLToPath(new URL('../../../docs/openapi.yaml', import.meta.url));

/** Where the document is registered in ajv; its `#/components/...` refs resolve against it. */
const DOC_ID = 'https://chat-hub.invalid/openapi.yaml';

export type SecuritySchemeName = 'systemToken' | 'customerToken' | 'agentToken' | 'chatPluginToken';

interface MediaType {
  schema?: unknown;
}
interface HeaderObject {
  $ref?: string;
  required?: boolean;
}
interface ResponseObject {
  $ref?: string;
  description?: string;
  content?: Record<string, MediaType>;
  headers?: Record<string, HeaderObject>;
}
interface ParameterObject {
  $ref?: string;
  name?: string;
  in?: string;
}
export interface OperationObject {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: ParameterObject[];
  requestBody?: { content?: Record<string, MediaType> };
  responses: Record<string, ResponseObject>;
}
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OperationObject>>;
  components: Record<string, Record<string, unknown>>;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** One JSON pointer segment, escaped for a URI fragment. */
const segment = (s: string): string => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));

/** Reads docs/openapi.yaml (duplicate keys are an error, as YAML wants). */
export function readOpenApiDocument(): OpenApiDocument {
  return parse(readFileSync(OPENAPI_PATH, 'utf8'), { uniqueKeys: true }) as OpenApiDocument;
}

/** "METHOD /path" keys of every operation in the document. */
export function operationKeys(doc: OpenApiDocument): string[] {
  const keys: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) if (HTTP_METHODS.has(method)) keys.push(`${method.toUpperCase()} ${path}`);
  }
  return keys.sort();
}

/**
 * docs/openapi.yaml as a checker of real exchanges: is this status documented for the operation,
 * does the body validate (JSON Schema 2020-12, as OpenAPI 3.1 says) against the schema given for it,
 * and would the document have accepted the request the hub accepted?
 */
export class OpenApiContract {
  readonly doc: OpenApiDocument;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(doc: OpenApiDocument = readOpenApiDocument()) {
    this.doc = doc;
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, allowUnionTypes: true });
    addFormats.default(this.ajv);
    // The document is no schema itself, but registered as one its fragments and their `#/components/…`
    // refs compile; ajv compiles the root on the way, so its top-level fields become inert keywords.
    this.ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'tags', 'paths', 'components', 'security', 'webhooks', 'externalDocs']);
    this.ajv.addSchema(doc as object, DOC_ID, undefined, false);
  }

  operations(): string[] {
    return operationKeys(this.doc);
  }

  operation(method: string, path: string): OperationObject | undefined {
    return this.doc.paths[path]?.[method.toLowerCase()];
  }

  /** The validator of the schema at `pointer` (segments from the document's root). */
  validator(pointer: string[]): ValidateFunction {
    const ref = `${DOC_ID}#/${pointer.map(segment).join('/')}`;
    let validate = this.validators.get(ref);
    if (!validate) {
      validate = this.ajv.getSchema(ref);
      if (!validate) throw new Error(`docs/openapi.yaml has no schema at ${ref}`);
      this.validators.set(ref, validate);
    }
    return validate;
  }

  /** Compiles every request and response schema, so a dangling $ref or a typo in a keyword fails here. */
  compileAll(): void {
    for (const key of this.operations()) {
      const [method = '', path = ''] = key.split(' ');
      const op = this.operation(method, path);
      if (!op) continue;
      const base = ['paths', path, method.toLowerCase()];
      for (const media of Object.keys(op.requestBody?.content ?? {})) this.validator([...base, 'requestBody', 'content', media, 'schema']);
      for (const status of Object.keys(op.responses)) {
        const { pointer, response } = this.response(base, status, op.responses[status]);
        for (const media of Object.keys(response.content ?? {})) {
          if (response.content?.[media]?.schema) this.validator([...pointer, 'content', media, 'schema']);
        }
      }
    }
    for (const name of Object.keys(this.doc.components['schemas'] ?? {})) this.validator(['components', 'schemas', name]);
  }

  /** Everything wrong with a response the hub gave, against the document; empty when it matches. */
  responseErrors(method: string, path: string, status: number, headers: Headers, bytes: Buffer): string[] {
    const op = this.operation(method, path);
    if (!op) return [`${method} ${path} is not in docs/openapi.yaml`];
    const documented = op.responses[String(status)];
    if (!documented) return [`status ${status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`];
    const { pointer, response } = this.response(['paths', path, method.toLowerCase()], String(status), documented);
    const errors: string[] = [];
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      const required = header.$ref ? (this.resolve(header.$ref) as HeaderObject).required : header.required;
      if (required && !headers.has(name)) errors.push(`header ${name} is documented as required but missing`);
    }
    const content = response.content ?? {};
    if (bytes.length === 0) {
      if (Object.keys(content).length > 0) errors.push(`documented with a body (${Object.keys(content).join(', ')}) but came without one`);
      return errors;
    }
    const media = (headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    if (!content[media]) return [...errors, `content type "${media}" is not documented for ${status} (documented: ${Object.keys(content).join(', ') || 'no body'})`];
    let value: unknown;
    if (media === 'application/json') value = JSON.parse(bytes.toString('utf8')) as unknown;
    else if (media === 'application/pdf') {
      if (bytes.subarray(0, 5).toString('latin1') !== '%PDF-') errors.push('an application/pdf body that is not a PDF');
      return errors;
    } else value = bytes.toString('utf8');
    const validate = this.validator([...pointer, 'content', media, 'schema']);
    if (!validate(value)) errors.push(...this.describe(validate));
    return errors;
  }

  /** Why the document would refuse this request (body schema, unknown query parameters); empty when it accepts it. */
  requestErrors(method: string, path: string, body: unknown, query: Record<string, string> = {}): string[] {
    const op = this.operation(method, path);
    if (!op) return [`${method} ${path} is not in docs/openapi.yaml`];
    const errors: string[] = [];
    const names = new Set((op.parameters ?? []).map((p) => (p.$ref ? (this.resolve(p.$ref) as ParameterObject) : p)).filter((p) => p.in === 'query').map((p) => p.name));
    for (const name of Object.keys(query)) if (!names.has(name)) errors.push(`query parameter "${name}" is not documented`);
    if (body !== undefined) {
      if (!op.requestBody?.content?.['application/json']) errors.push('no JSON request body is documented');
      else {
        const validate = this.validator(['paths', path, method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema']);
        if (!validate(body)) errors.push(...this.describe(validate));
      }
    }
    return errors;
  }

  /** The security schemes an operation accepts; `none` when it may be called without a credential. */
  acceptedCredentials(method: string, path: string): Set<SecuritySchemeName | 'none'> {
    const op = this.operation(method, path);
    const accepted = new Set<SecuritySchemeName | 'none'>();
    const requirements = op?.security ?? [];
    if (requirements.length === 0) accepted.add('none');
    for (const requirement of requirements) {
      const names = Object.keys(requirement) as SecuritySchemeName[];
      if (names.length === 0) accepted.add('none');
      for (const name of names) accepted.add(name);
    }
    return accepted;
  }

  /** A response object and the pointer its content lives under, following one `$ref`. */
  private response(opPointer: string[], status: string, response: ResponseObject | undefined): { pointer: string[]; response: ResponseObject } {
    if (!response) throw new Error(`no response ${status}`);
    if (response.$ref) return { pointer: refPointer(response.$ref), response: this.resolve(response.$ref) as ResponseObject };
    return { pointer: [...opPointer, 'responses', status], response };
  }

  private resolve(ref: string): unknown {
    return resolveRef(this.doc, ref);
  }

  private describe(validate: ValidateFunction): string[] {
    return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  }
}
