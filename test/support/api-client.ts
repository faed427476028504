import { SYSTEM_TOKEN } from './hub.js';
import type { OpenApiContract, SecuritySchemeName } from './openapi-contract.js';

/** A bearer credential, named by the security scheme of docs/openapi.yaml it is an instance of. */
export interface Credential {
  scheme: SecuritySchemeName;
  token: string;
}

export const systemToken: Credential = { scheme: 'systemToken', token: SYSTEM_TOKEN };
export const customerToken = (token: string): Credential => ({ scheme: 'customerToken', token });
export const agentToken = (token: string): Credential => ({ scheme: 'agentToken', token });
export const chatPluginToken = (token: string): Credential => ({ scheme: 'chatPluginToken', token });

export interface CallOptions {
  auth?: Credential;
  /** A JSON body. */
  body?: unknown;
  /** A body sent as it is (e.g. malformed JSON), with Content-Type application/json. */
  rawBody?: string;
  /** Values for the `{name}` segments of the path. */
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** The body breaks the documented request schema: the document must refuse it too. */
  invalidBody?: boolean;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  bytes: Buffer;
  /** The parsed JSON body (validated against the document), or undefined for other bodies. */
  body: T;
}

/** One request made through an ApiClient: which documented operation, which status. */
export interface Exchange {
  operation: string;
  status: number;
}

/**
 * Real HTTP requests to a running hub, each checked against docs/openapi.yaml: the answer's status
 * must be documented for the operation and its body must match the schema given for that status; a
 * request the hub accepted must be one the document accepts, with a credential it lists.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly contract: OpenApiContract,
    /** Shared log of exchanges, for the "every operation was exercised" checks. */
    private readonly exchanges: Exchange[],
  ) {}

  async call<T = Record<string, unknown>>(method: 'GET' | 'POST', template: string, options: CallOptions = {}): Promise<ApiResponse<T>> {
    const operation = `${method} ${template}`;
    if (!this.contract.operation(method, template)) throw new Error(`${operation} is not documented in docs/openapi.yaml`);
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = options.params?.[name];
      if (value === undefined) throw new Error(`no value for {${name}} in ${template}`);
      return encodeURIComponent(value);
    });
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth) headers['authorization'] = `Bearer ${options.auth.token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] = 'application/json';

    const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
    const bytes = Buffer.from(await res.arrayBuffer());
    this.exchanges.push({ operation, status: res.status });

    const problems = this.contract.responseErrors(method, template, res.status, res.headers, bytes);
    if (res.status >= 200 && res.status < 300) {
      problems.push(...this.contract.requestErrors(method, template, options.rawBody === undefined ? options.body : undefined, options.query).map((e) => `request accepted by the hub but not by the document: ${e}`));
      const accepted = this.contract.acceptedCredentials(method, template);
      const used = options.auth?.scheme ?? 'none';
      if (!accepted.has(used)) problems.push(`the hub accepted a ${used} credential, the document lists only ${[...accepted].join(', ')}`);
    }
    if (options.invalidBody && this.contract.requestErrors(method, template, options.body).length === 0) {
      problems.push('the hub refused the body, but the document accepts it');
    }
    if (problems.length > 0) {
      const shown = bytes.toString('utf8').slice(0, 600);
      throw new Error(`${operation} answered ${res.status}, which does not match docs/openapi.yaml:\n  - ${problems.join('\n  - ')}\nbody: ${shown}`);
    }
    const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json');
    return { status: res.status, headers: res.headers, bytes, body: (isJson ? JSON.parse(bytes.toString('utf8')) : undefined) as T };
  }

  get<T = Record<string, unknown>>(template: string, options?: CallOptions): Promise<ApiResponse<T>> {
    return this.call<T>('GET', template, options);
  }

  post<T = Record<string, unknown>>(template: string, options?: CallOptions): Promise<ApiResponse<T>> {
    return this.call<T>('POST', template, options);
  }
}

/** Operations of `documented` never called (with a 2xx answer, when `success`); calls to undocumented ones already threw. */
export function coverageGaps(documented: string[], exchanges: Exchange[], options: { success?: boolean } = {}): { missing: string[] } {
  const called = new Set(exchanges.filter((e) => !options.success || (e.status >= 200 && e.status < 300)).map((e) => e.operation));
  return { missing: documented.filter((op) => !called.has(op)) };
}
