import { closeAllSockets } from './clients.js';
import { startHub, type RunningHub } from './hub.js';
import { startTestStore, type TestStore } from './store.js';

export interface HubSuite {
  store: TestStore;
  hub: RunningHub;
}

/**
 * Registers a test file's hooks: a store and an in-process hub (database `name`, settings `env`)
 * before its tests, every client socket closed after each, both closed after all. The suite is
 * filled in by the `before` hook.
 */
export function hubSuite(name: string, env: Record<string, string> = {}): HubSuite {
  const suite = {} as HubSuite;
  before(async function () {
    this.timeout(120_000);
    suite.store = await startTestStore();
    suite.hub = await startHub(suite.store.uri(name), env);
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await suite.hub?.close();
    await suite.store?.close();
  });
  return suite;
}
