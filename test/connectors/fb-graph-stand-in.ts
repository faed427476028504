import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpStandIn } from './http-stand-in.js';

/** One recorded Send API call. */
export interface GraphCall {
  token: string | null;
  body: { recipient: { id: string }; messaging_type: string; message: { text?: string; attachment?: unknown } };
  status: number;
  messageId?: string;
}
export type GraphAnswer = { status: number; body: unknown };

/**
 * A stand-in Graph API for tests: `POST /vXX.X/me/messages` as Meta documents it. It checks the
 * page access token (code 190 otherwise), records every call, and answers from `script` first.
 */
export class GraphStandIn extends HttpStandIn {
  readonly calls: GraphCall[] = [];
  /** Answers for the next calls, in order; afterwards every valid call succeeds. */
  readonly script: GraphAnswer[] = [];
  private counter = 0;

  constructor(private readonly pageToken: string) {
    super();
  }

  protected handle(req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://graph');
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || !/^\/v\d+\.\d+\/me\/messages$/.test(url.pathname)) {
      answer(404, { error: { message: 'Unknown path components', type: 'OAuthException', code: 2500, fbtrace_id: 'stand-in' } });
      return;
    }
    const token = url.searchParams.get('access_token');
    const body = JSON.parse(raw.toString('utf8') || '{}') as GraphCall['body'];
    const call: GraphCall = { token, body, status: 0 };
    this.calls.push(call);
    let reply: GraphAnswer;
    if (token !== this.pageToken) {
      reply = { status: 400, body: { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190, fbtrace_id: 'stand-in' } } };
    } else {
      const next = this.script.shift();
      this.counter += 1;
      call.messageId = `m_graph_${this.counter}`;
      reply = next ?? { status: 200, body: { recipient_id: body.recipient?.id, message_id: call.messageId } };
    }
    call.status = reply.status;
    answer(reply.status, reply.body);
  }
}
