/**
 * `npm run agent-link -- <agent id> [--name "Sam Agent"] [--skills billing,sales] [--max-chats 3]`
 *
 * Prints a sign-in link for the agent desk, for local use: it mints an agent token with the system
 * token (SYSTEM_TOKEN, else the development secrets the hub generated under DATA_DIR) through
 * POST /api/agents/token on the hub (HUB_URL, default http://localhost:8080) and prints
 * `<hub>/desk#token=<token>`. The token travels in the URL fragment, which browsers never send
 * to a server, so it stays out of access logs; the desk moves it to sessionStorage at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../src/config.js';

function systemToken(): string {
  const fromEnv = process.env['SYSTEM_TOKEN'];
  if (fromEnv) return fromEnv;
  const defaults = JSON.parse(readFileSync(join(PROJECT_ROOT, 'config', 'default.json'), 'utf8')) as { dataDir?: string };
  const dataDir = resolve(process.env['DATA_DIR'] ?? defaults.dataDir ?? './data');
  const file = join(dataDir, 'dev-secrets.json');
  if (!existsSync(file)) {
    throw new Error(`no SYSTEM_TOKEN in the environment and no ${file}: start the hub once (npm start) or set SYSTEM_TOKEN`);
  }
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { systemToken?: string };
  if (!saved.systemToken) throw new Error(`${file} holds no systemToken`);
  return saved.systemToken;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      skills: { type: 'string' },
      'max-chats': { type: 'string' },
    },
  });
  const id = positionals[0];
  if (!id) {
    throw new Error('usage: npm run agent-link -- <agent id> [--name "Sam Agent"] [--skills billing,sales] [--max-chats 3]');
  }
  const hub = (process.env['HUB_URL'] ?? 'http://localhost:8080').replace(/\/+$/, '');
  const body: Record<string, unknown> = {
    id,
    name: values.name ?? id,
    skills: (values.skills ?? '').split(',').map((s) => s.trim()).filter(Boolean),
  };
  if (values['max-chats']) body['maxChats'] = Number(values['max-chats']);
  const system = systemToken();
  let res: Response;
  try {
    res = await fetch(`${hub}/api/agents/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${system}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`cannot reach the hub at ${hub} (${(err as Error).message}); start it with npm start, or set HUB_URL`);
  }
  const answer = (await res.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!res.ok || !answer.token) throw new Error(`the hub refused the token: ${res.status} ${answer.error ?? ''}`);
  process.stdout.write(`${hub}/desk#token=${answer.token}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`agent-link: ${err.message}\n`);
  process.exitCode = 1;
});
