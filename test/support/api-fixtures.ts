import { connect, emitAck } from './clients.js';
import { withExpressApps, routesOf, type RouteEntry } from './express-routes.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from './hub.js';

/**
 * The operations CONTRACT.md §6 adds that the hub is gaining now; test/openapi-section6.test.ts
 * exercises them (and fails until they land), test/openapi.test.ts all the others.
 */
export const SECTION_6_NEW_OPERATIONS = [
  'POST /chatplugin.authenticate',
  'POST /chatplugin.resumeToken',
  'POST /chatplugin.revokeResumeToken',
  'POST /chatplugin.send',
  'POST /messages.list',
  'POST /messages.suggest-replies',
  'POST /contacts.identify',
];

/** Ends a conversation with the system token over a socket of its own (the only way there is). */
export async function endAsSystem(baseUrl: string, conversationId: string): Promise<void> {
  const socket = await connect(baseUrl, { token: SYSTEM_TOKEN });
  try {
    const ack = await emitAck(socket, 'endConversation', { conversationId });
    if (!ack.ok) throw new Error(`endConversation failed: ${JSON.stringify(ack)}`);
  } finally {
    socket.close();
  }
}

/** A hub and the routes its Express app answers. */
export async function startHubWithRoutes(uri: string, env: Record<string, string> = {}): Promise<{ hub: RunningHub; routes: RouteEntry[] }> {
  const { value: hub, apps } = await withExpressApps(() => startHub(uri, env));
  if (apps.length !== 1 || !apps[0]) throw new Error(`expected the hub to build one Express app, saw ${apps.length}`);
  return { hub, routes: routesOf(apps[0]) };
}

/** Polls `check` every 20 ms until it holds, or throws after `ms` naming `what`. */
export async function eventually(check: () => Promise<boolean>, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
