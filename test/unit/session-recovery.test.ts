import { expect } from 'chai';
import pino from 'pino';
import type { Adapter } from 'socket.io-adapter';
import { recoverableSessions, restorableData, restoredMemberships } from '../../src/transport/socket/session-recovery.js';

/** A stand-in adapter recording what the wrapper passes on (the real one is exercised by test/scale-out/). */
function fakeAdapter(restoreMs: number, persisted: unknown[]): Adapter {
  return {
    restoreSession: (pid: string) => new Promise((resolve) => setTimeout(() => resolve({ sid: pid, pid, rooms: [], data: {}, missedPackets: [] }), restoreMs)),
    persistSession: (session: unknown) => void persisted.push(session),
  } as unknown as Adapter;
}

describe('connection state recovery sessions (scale-out)', () => {
  it('stores a session as plain data: joins by name only, never live objects', () => {
    const data = {
      capKey: 'customer:c1:p1',
      expiry: { timer: setTimeout(() => undefined, 0) },
      memberships: new Map([['c1', { conversationId: 'c1', participant: { id: 'p1', name: 'Pat', role: 'customer' }, staff: false, expiresAt: 1, credential: { kind: 'customer' } }]]),
    };
    const kept = restorableData(data);
    expect(kept).to.deep.equal({ capKey: 'customer:c1:p1', restoredMemberships: [{ conversationId: 'c1', participantId: 'p1', participantName: 'Pat' }] });
    expect(restoredMemberships(kept)).to.deep.equal([{ conversationId: 'c1', participantId: 'p1', participantName: 'Pat' }]);
    expect(restoredMemberships({ restoredMemberships: [{ conversationId: 1 }, 'x', null] })).to.deep.equal([]);
  });

  it('restores at most 4 sessions at once; the others are refused (the client catches up with afterSeq)', async () => {
    const persisted: unknown[] = [];
    const make = recoverableSessions(() => fakeAdapter(100, persisted), () => false, pino({ level: 'silent' }));
    const adapter = make({});
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => adapter.restoreSession(`pid${i}`, '1-0')));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(4);
    // Once they are done, the budget is back.
    expect((await Promise.allSettled([adapter.restoreSession('again', '1-0')]))[0]!.status).to.equal('fulfilled');
  });

  it('stores nothing while sessions must not be recovered (after a Redis outage)', () => {
    const persisted: unknown[] = [];
    let skip = true;
    const adapter = recoverableSessions(() => fakeAdapter(0, persisted), () => skip, pino({ level: 'silent' }))({});
    adapter.persistSession({ sid: 's', pid: 'p', rooms: new Set(), data: {} } as never);
    skip = false;
    adapter.persistSession({ sid: 's2', pid: 'p2', rooms: new Set(), data: { memberships: new Map() } } as never);
    expect(persisted).to.have.length(1);
    expect((persisted[0] as { sid: string; data: unknown }).sid).to.equal('s2');
    expect((persisted[0] as { data: unknown }).data).to.deep.equal({ restoredMemberships: [] });
  });
});
