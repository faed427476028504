import { expect } from 'chai';
import pino from 'pino';
import { TokenService } from '../../src/auth/token.service.js';
import type { ConversationCache } from '../../src/domain/conversation-cache.js';
import { CredentialService } from '../../src/domain/credentials.service.js';
import type { AgentCredentialStore } from '../../src/domain/ports.js';

/** Agent epochs as the database holds them, counting the reads. */
class FakeAgentCredentials implements AgentCredentialStore {
  readonly epochs = new Map<string, { epoch: number; at: Date }>();
  reads = { one: 0, since: 0 };

  async epoch(agentId: string): Promise<number> {
    this.reads.one += 1;
    return this.epochs.get(agentId)?.epoch ?? 0;
  }

  async revoke(agentId: string, at: Date): Promise<number> {
    const epoch = (this.epochs.get(agentId)?.epoch ?? 0) + 1;
    this.epochs.set(agentId, { epoch, at });
    return epoch;
  }

  async revokedSince(since: Date): Promise<Array<{ agentId: string; epoch: number }>> {
    this.reads.since += 1;
    return [...this.epochs].filter(([, v]) => v.at >= since).map(([agentId, v]) => ({ agentId, epoch: v.epoch }));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('CredentialService: agent revocations', () => {
  const tokens = new TokenService({
    secret: 'x'.repeat(40),
    systemToken: 'y'.repeat(30),
    customerTokenTtlSeconds: 3600,
    agentTokenTtlSeconds: 3600,
    chatPluginTokenTtlSeconds: 3600,
    resumeTokenTtlSeconds: 3600,
    defaultMaxChats: 5,
  });
  const conversations = {} as ConversationCache;

  it('checks 200 agents with one read of the revocations per interval, not one read per agent', async () => {
    const store = new FakeAgentCredentials();
    const credentials = new CredentialService(tokens, conversations, store, { cacheMs: 10_000 }, pino({ level: 'silent' }));
    for (let round = 0; round < 3; round += 1) {
      for (let i = 0; i < 200; i += 1) {
        const principal = tokens.authenticate(tokens.issueAgentToken({ id: `agent-${i}`, name: `A${i}`, skills: [] }));
        await credentials.assertCurrent(principal);
      }
    }
    expect(store.reads).to.deep.equal({ one: 0, since: 1 });
  });

  it('sees a revocation another process stored within the interval, and refuses the old tokens', async () => {
    const store = new FakeAgentCredentials();
    const credentials = new CredentialService(tokens, conversations, store, { cacheMs: 200 }, pino({ level: 'silent' }));
    const old = tokens.authenticate(tokens.issueAgentToken({ id: 'agent-x', name: 'X', skills: [] }));
    await credentials.assertCurrent(old);
    // Another process revokes (its clock 10 s behind ours): the overlap still finds it.
    await store.revoke('agent-x', new Date(Date.now() - 10_000));
    await sleep(250);
    let refused: unknown;
    try {
      await credentials.assertCurrent(old);
    } catch (err) {
      refused = err;
    }
    expect((refused as { code?: string } | undefined)?.code).to.equal('UNAUTHORIZED');
    // A token issued after the revocation (with the fresh epoch) is accepted.
    const epoch = await credentials.agentEpoch('agent-x', true);
    const fresh = tokens.authenticate(tokens.issueAgentToken({ id: 'agent-x', name: 'X', skills: [], epoch }));
    await credentials.assertCurrent(fresh);
  });

  it('refuses the old tokens at once on the process that revoked', async () => {
    const store = new FakeAgentCredentials();
    const credentials = new CredentialService(tokens, conversations, store, { cacheMs: 60_000 }, pino({ level: 'silent' }));
    const old = tokens.authenticate(tokens.issueAgentToken({ id: 'agent-y', name: 'Y', skills: [] }));
    await credentials.assertCurrent(old);
    await credentials.revokeAgent('agent-y');
    let refused: unknown;
    try {
      await credentials.assertCurrent(old);
    } catch (err) {
      refused = err;
    }
    expect((refused as { code?: string } | undefined)?.code).to.equal('UNAUTHORIZED');
  });
});
