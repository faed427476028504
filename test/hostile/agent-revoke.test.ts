import { expect } from 'chai';
import { agentToken, connect, connectRefused, emitAck, initCustomer, postJson, sleep } from '../support/clients.js';
import { hubSuite } from '../support/hub-suite.js';
import { bearer, system } from '../support/chatplugin.js';
import { agentClient, agentView, conversationsView, getJson, setState, until } from '../support/routing.js';

/**
 * The attack: an agent's laptop is stolen (or the agent leaves) with a 12-hour token on it. Until
 * now nothing stopped that token: it kept its sockets, read every conversation routed to it, and
 * could open new connections. POST /api/agents/:id/revoke (system token) must end all of that.
 */
describe('hostile: POST /api/agents/:id/revoke retires every token of an agent', function () {
  this.timeout(60_000);
  const suite = hubSuite('hostile_agent_revoke', { ROUTING_SWEEP_MS: '200', AGENT_GRACE_MS: '60000' });

  it('closes the agent’s sockets, refuses their old tokens everywhere, and routes nothing more to them', async () => {
    const agent = await agentClient(suite.hub.url, 'agent-stolen', { skills: ['vault'], maxChats: 5 });
    const otherTab = await connect(suite.hub.url, { token: agent.token });
    await setState(agent, 'ready');
    const first = await initCustomer(suite.hub.url, { subject: 'vault' });
    await until(() => agent.got().includes(first.conversationId), 'the first conversation assigned');

    const errors: string[] = [];
    for (const s of [agent.socket, otherTab]) s.on('error', (e: { error: { code: string } }) => errors.push(e.error.code));
    const closed = [agent.socket, otherTab].map((s) =>
      Promise.race([new Promise<string>((resolve) => s.once('disconnect', (reason) => resolve(reason))), sleep(5000).then(() => 'still open')]),
    );

    const res = await postJson(`${suite.hub.url}/api/agents/agent-stolen/revoke`, {}, system);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.deep.equal({ agentId: 'agent-stolen', revoked: true });

    // Both tabs are told and closed.
    expect(await Promise.all(closed)).to.deep.equal(['io server disconnect', 'io server disconnect']);
    expect(errors).to.deep.equal(['UNAUTHORIZED', 'UNAUTHORIZED']);
    // The old token opens nothing: no socket, no event, no HTTP.
    expect((await connectRefused(suite.hub.url, { token: agent.token })).data?.code).to.equal('UNAUTHORIZED');
    const anonymous = await connect(suite.hub.url);
    const join = await emitAck(anonymous, 'joinConversation', { conversationId: first.conversationId, id: 'agent-stolen', name: 'x', token: agent.token });
    expect(join.ok ? 'ok' : join.error.code).to.equal('UNAUTHORIZED');
    expect((await getJson(`${suite.hub.url}/api/conversations`, agent.token)).status).to.equal(401);

    // Out of routing: notReady, and the next customer of the subject is not theirs.
    expect((await agentView(suite.hub.url, 'agent-stolen'))?.state).to.equal('notReady');
    const next = await initCustomer(suite.hub.url, { subject: 'vault' });
    await sleep(800);
    const [waiting] = (await conversationsView(suite.hub.url, '?status=queued&subject=vault&page_size=100')).filter((c) => c.id === next.conversationId);
    expect(waiting?.assignedAgent ?? null).to.equal(null);

    // A token minted after the revocation works: the agent is back, and gets the waiting customer.
    const back = await agentClient(suite.hub.url, 'agent-stolen', { skills: ['vault'], maxChats: 5 });
    await setState(back, 'ready');
    await until(() => back.got().includes(next.conversationId), 'the waiting conversation assigned to the new token');
  });

  it('needs the system token: 401 without, 403 for an agent (even revoking itself), 400 for a bad id', async () => {
    const own = await agentToken(suite.hub.url, 'agent-self');
    expect((await postJson(`${suite.hub.url}/api/agents/agent-self/revoke`, {})).status).to.equal(401);
    expect((await postJson(`${suite.hub.url}/api/agents/agent-self/revoke`, {}, bearer(own))).status).to.equal(403);
    expect((await postJson(`${suite.hub.url}/api/agents/${'x'.repeat(201)}/revoke`, {}, system)).status).to.equal(400);
    // An agent who never connected can be revoked too (a token minted and leaked before first use).
    expect((await postJson(`${suite.hub.url}/api/agents/agent-self/revoke`, {}, system)).status).to.equal(200);
    expect((await connectRefused(suite.hub.url, { token: own })).data?.code).to.equal('UNAUTHORIZED');
    const metrics = await (await fetch(`${suite.hub.url}/metrics`)).text();
    expect(metrics).to.match(/^hub_agent_revocations_total [2-9]\d*$/m);
  });
});
