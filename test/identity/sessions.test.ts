import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { InvalidationReason, SessionFailureReason } from '../../src/identity/errors.js';
import type { Registry } from '../../src/identity/registry.js';
import { SqliteRegistry } from '../../src/identity/sqlite-registry.js';
import { sessionAuthenticator } from '../../src/identity/authenticator.js';
import { SessionManager, type CreateSessionResult, type Session } from '../../src/identity/sessions.js';
import { makeCa, makeLeaf, NOW, type TestCert } from '../helpers/pki.js';
import { registryBackends } from '../helpers/registry-backends.js';
import { waitUntil } from '../helpers/wait.js';

const DAY = 86_400_000;

const backends = await registryBackends();

interface Fixture {
  registry: Registry;
  manager: SessionManager;
  events: { session: Session; reason: InvalidationReason }[];
}

function ok(r: CreateSessionResult): { token: string; session: Session } {
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.message}`);
  return r;
}

function fails(r: CreateSessionResult, reason: SessionFailureReason): void {
  assert.equal(r.ok, false, `expected ${reason}`);
  if (!r.ok) assert.equal(r.reason, reason, r.message);
}

describe('SessionManager', () => {
  let ca: TestCert;
  let ca2: TestCert;
  const devices: TestCert[] = [];
  const fixtures: Fixture[] = [];

  before(async () => {
    ca = await makeCa({ name: 'CN=Devices' });
    ca2 = await makeCa({ name: 'CN=Devices 2' });
    for (let i = 0; i < 5; i++) devices.push(await makeLeaf({ issuer: ca, cn: `d${i}` }));
  });

  afterEach(async () => {
    for (const f of fixtures.splice(0)) {
      f.manager.stop();
      await f.registry.close();
    }
  });

  async function fixture(opts: { max?: number; open?: () => Promise<Registry>; clock?: () => Date } = {}): Promise<Fixture> {
    const registry = opts.open !== undefined ? await opts.open() : SqliteRegistry.open({ file: ':memory:' });
    await registry.trustCa(ca.pem);
    for (const [i, d] of devices.entries()) await registry.enroll({ thingName: `d${i}`, attributes: { n: String(i) }, certificatePem: d.pem, thing: 'any' });
    const manager = new SessionManager({ registry, maxActiveAuthTokens: opts.max ?? 100, watchIntervalMs: 50, clock: opts.clock ?? (() => NOW) });
    const f: Fixture = { registry, manager, events: [] };
    manager.onInvalidated((session, reason) => f.events.push({ session, reason }));
    fixtures.push(f);
    return f;
  }

  const connect = (f: Fixture, i: number, now = NOW): Promise<CreateSessionResult> =>
    f.manager.createSession({ clientId: `d${i}`, certificatePem: devices[i]!.pem, now });

  it('creates a session with an opaque 256-bit token holding thing, attributes and certificate', async () => {
    const f = await fixture();
    const { token, session } = ok(await connect(f, 0));
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.equal(session.thingName, 'd0');
    assert.equal(session.clientId, 'd0');
    assert.deepEqual(session.attributes, { n: '0' });
    assert.equal(session.certificateId, devices[0]!.id);
    assert.equal(session.trustedCaId, ca.id);
    assert.deepEqual(f.manager.get(token), session);
    const other = ok(await connect(f, 1));
    assert.notEqual(other.token, token);
    // The token is nowhere in what the manager hands out for logging.
    const dump = JSON.stringify({ s: f.manager.list(), session });
    assert.ok(!dump.includes(token));
    assert.equal(f.manager.get('not-a-token'), undefined);
    assert.equal(f.manager.get(''), undefined);
    assert.equal(f.manager.get('x'.repeat(10_000)), undefined);
  });

  it('rejects bad client IDs, unknown things, unattached and bad certificates, storing nothing', async () => {
    const f = await fixture();
    const stranger = await makeLeaf({ issuer: ca });
    const seq = await f.registry.latestChangeSeq();
    const try_ = (clientId: string, pem: string, now = NOW) => f.manager.createSession({ clientId, certificatePem: pem, now });
    fails(await try_('', devices[0]!.pem), 'THING_NAME_INVALID');
    fails(await try_('a'.repeat(129), devices[0]!.pem), 'THING_NAME_INVALID');
    fails(await try_('d0/#', devices[0]!.pem), 'THING_NAME_INVALID');
    fails(await try_('d0+', devices[0]!.pem), 'THING_NAME_INVALID');
    fails(await try_('nobody', devices[0]!.pem), 'THING_NOT_FOUND');
    fails(await try_('D0', devices[0]!.pem), 'THING_NOT_FOUND'); // names are case-sensitive
    fails(await try_('d1', devices[0]!.pem), 'CERT_NOT_ATTACHED');
    fails(await try_('d0', 'garbage'), 'CERT_MALFORMED');
    fails(await try_('d0', devices[0]!.pem.slice(0, 300)), 'CERT_MALFORMED');
    fails(await try_('d0', stranger.pem), 'CERT_NOT_REGISTERED');
    fails(await try_('d0', devices[0]!.pem, new Date(NOW.getTime() + 365 * DAY)), 'CERT_EXPIRED');
    fails(await try_('d0', devices[0]!.pem, new Date(NOW.getTime() - 365 * DAY)), 'CERT_NOT_YET_VALID');
    fails(await try_('d0', (await makeLeaf({ issuer: ca2 })).pem), 'CERT_UNTRUSTED');
    fails(await try_('d0', (await makeLeaf({})).pem), 'CERT_SELF_SIGNED');
    await f.registry.setCertificateStatus(devices[2]!.id, 'INACTIVE');
    fails(await connect(f, 2), 'CERT_INACTIVE');
    await f.registry.setCertificateStatus(devices[3]!.id, 'REVOKED');
    fails(await connect(f, 3), 'CERT_REVOKED');
    assert.equal(f.manager.size, 0);
    assert.equal(await f.registry.latestChangeSeq(), seq + 2, 'only the two status changes were written');
  });

  it('evicts the least recently used session at maxActiveAuthTokens; lookups count as use', async () => {
    const f = await fixture({ max: 3 });
    const s0 = ok(await connect(f, 0));
    const s1 = ok(await connect(f, 1));
    const s2 = ok(await connect(f, 2));
    assert.equal(f.manager.size, 3);
    assert.ok(f.manager.get(s0.token)); // s1 is now the least recently used
    const s3 = ok(await connect(f, 3));
    assert.equal(f.manager.size, 3);
    assert.equal(f.manager.get(s1.token), undefined);
    assert.deepEqual(f.events.map((e) => [e.session.thingName, e.reason]), [['d1', 'SESSION_EVICTED']]);
    assert.deepEqual(f.manager.list().map((s) => s.thingName), ['d2', 'd0', 'd3']);
    ok(await connect(f, 4));
    assert.equal(f.manager.get(s2.token), undefined);
    assert.ok(f.manager.get(s0.token));
    assert.ok(f.manager.get(s3.token));
    f.manager.setMaxActiveAuthTokens(1);
    assert.equal(f.manager.size, 1);
    assert.deepEqual(f.manager.list().map((s) => s.thingName), ['d3']);
    assert.throws(() => f.manager.setMaxActiveAuthTokens(0), RangeError);
  });

  it('a session backing a live connection is never evicted and does not count against maxActiveAuthTokens', async () => {
    const f = await fixture({ max: 1 });
    const live = (i: number): Promise<CreateSessionResult> => f.manager.createSession({ clientId: `d${i}`, certificatePem: devices[i]!.pem, now: NOW, connection: true });
    const c0 = ok(await live(0));
    const c1 = ok(await live(1));
    const c2 = ok(await live(2));
    assert.equal(f.manager.size, 3);
    assert.equal(f.manager.tokenSessions, 0);
    const t3 = ok(await connect(f, 3));
    const t4 = ok(await connect(f, 4)); // evicts t3, the only other token session
    assert.deepEqual(f.events.map((e) => [e.session.thingName, e.reason]), [['d3', 'SESSION_EVICTED']]);
    assert.equal(f.manager.get(t3.token), undefined);
    assert.ok(f.manager.get(t4.token));
    f.manager.setMaxActiveAuthTokens(1);
    f.manager.setMaxActiveAuthTokens(2);
    assert.equal(f.events.length, 1, 'changing the limit ends no connection-backed session');
    for (const c of [c0, c1, c2]) assert.ok(f.manager.peekById(c.session.id));
    // The holder ends it when the connection closes.
    assert.equal(f.manager.closeById(c1.session.id), true);
    assert.equal(f.manager.size, 3);
  });

  it('replaces the session of a reconnecting client ID', async () => {
    const f = await fixture();
    const first = ok(await connect(f, 0));
    const second = ok(await connect(f, 0));
    assert.equal(f.manager.get(first.token), undefined);
    assert.ok(f.manager.get(second.token));
    assert.equal(f.manager.size, 1);
    assert.deepEqual(f.events.map((e) => e.reason), ['SESSION_REPLACED']);
  });

  it('closes a session on request without an invalidation event', async () => {
    const f = await fixture();
    const s = ok(await connect(f, 0));
    assert.equal(f.manager.close(s.token), true);
    assert.equal(f.manager.close(s.token), false);
    assert.equal(f.manager.get(s.token), undefined);
    assert.deepEqual(f.events, []);
  });

  it('serves the broker through a handle that is not the token', async () => {
    const f = await fixture();
    const auth = sessionAuthenticator(f.manager, () => NOW);
    const out = await auth.authenticate('d0', devices[0]!.pem);
    assert.ok(out.ok);
    const { certificateContext, ...identity } = out.identity;
    assert.deepEqual(identity, { thingName: 'd0', clientId: 'd0', certificateId: devices[0]!.id, attributes: { n: '0' } });
    // The certificate's fields for IoT policy variables, decoded on demand from the same certificate.
    assert.deepEqual(certificateContext().subject['CommonName'], ['d0']);
    assert.deepEqual(certificateContext().issuer['CommonName'], ['Devices']);
    assert.equal(f.manager.peekById(out.sessionId)?.thingName, 'd0');
    auth.release(out.sessionId);
    assert.equal(f.manager.size, 0);
    assert.equal(f.manager.closeById(out.sessionId), false);
    const bad = await auth.authenticate('d1', devices[0]!.pem);
    assert.deepEqual(bad.ok ? undefined : bad.reason, 'CERT_NOT_ATTACHED');
  });

  it('ends sessions whose certificate expired', async () => {
    let now = NOW;
    const f = await fixture({ clock: () => now });
    const s0 = ok(await connect(f, 0));
    ok(await connect(f, 1));
    now = new Date(devices[0]!.cert.notAfter.getTime() + 1000);
    assert.equal(f.manager.get(s0.token), undefined);
    assert.equal(f.manager.sweepExpired(now), 1);
    assert.equal(f.manager.size, 0);
    assert.deepEqual(f.events.map((e) => e.reason), ['CERT_EXPIRED', 'CERT_EXPIRED']);
  });

  describe('invalidation from registry changes in this process', () => {
    const cases: [string, (r: Registry) => Promise<void>, InvalidationReason][] = [
      ['revoke', (r) => r.setCertificateStatus(devices[0]!.id, 'REVOKED').then(() => undefined), 'CERT_REVOKED'],
      ['deactivate', (r) => r.setCertificateStatus(devices[0]!.id, 'INACTIVE').then(() => undefined), 'CERT_INACTIVE'],
      ['detach', (r) => r.detach('d0', devices[0]!.id), 'CERT_DETACHED'],
      ['delete thing', (r) => r.deleteThing('d0'), 'THING_DELETED'],
      ['delete certificate', (r) => r.deleteCertificate(devices[0]!.id), 'CERT_DELETED'],
    ];
    for (const [name, act, reason] of cases) {
      it(`${name} -> ${reason}`, async () => {
        const f = await fixture();
        const s0 = ok(await connect(f, 0));
        const s1 = ok(await connect(f, 1));
        await act(f.registry);
        assert.equal(f.manager.get(s0.token), undefined);
        assert.ok(f.manager.get(s1.token), 'other sessions are untouched');
        assert.deepEqual(f.events.map((e) => [e.session.thingName, e.reason]), [['d0', reason]]);
      });
    }

    it('untrusting the CA ends its sessions (asynchronously re-verified)', async () => {
      const f = await fixture();
      const s0 = ok(await connect(f, 0));
      await f.registry.untrustCa(ca.id);
      await waitUntil(() => f.events.length === 1);
      assert.equal(f.manager.get(s0.token), undefined);
      assert.equal(f.events[0]!.reason, 'CA_UNTRUSTED');
    });

    it('a session survives untrusting one CA when its chain still reaches another trusted CA', async () => {
      const root = await makeCa({ name: 'CN=Root' });
      const inter = await makeCa({ name: 'CN=Inter', issuer: root });
      const leaf = await makeLeaf({ issuer: inter });
      const f = await fixture();
      await f.registry.trustCa(inter.pem);
      await f.registry.trustCa(root.pem);
      await f.registry.enroll({ thingName: 'chained', certificatePem: leaf.pem, thing: 'new' });
      const s = ok(await f.manager.createSession({ clientId: 'chained', certificatePem: leaf.pem + inter.pem, now: NOW }));
      assert.equal(s.session.trustedCaId, inter.id);
      await f.registry.untrustCa(inter.id);
      await waitUntil(() => f.manager.get(s.token)?.trustedCaId === root.id);
      await f.registry.untrustCa(root.id);
      await waitUntil(() => f.events.length === 1);
      assert.equal(f.events[0]!.reason, 'CA_UNTRUSTED');
    });

    it('activating or attaching does not end anything', async () => {
      const f = await fixture();
      const s0 = ok(await connect(f, 0));
      const s1 = ok(await connect(f, 1));
      await f.registry.attach('d1', devices[0]!.id);
      await f.registry.createThing('new-thing');
      // Changes are handled in order: a revocation made afterwards is the marker that the
      // attach and the new thing had their chance to end a session.
      await f.registry.setCertificateStatus(devices[1]!.id, 'REVOKED');
      await waitUntil(() => f.events.length > 0);
      assert.ok(f.manager.get(s0.token));
      assert.equal(f.manager.get(s1.token), undefined);
      assert.deepEqual(f.events.map((e) => [e.session.thingName, e.reason]), [['d1', 'CERT_REVOKED']]);
    });
  });

  for (const backend of backends) describe(`invalidation from another process (${backend.name} registry)`, { skip: backend.skip }, () => {
    let keepAlive: NodeJS.Timeout;
    before(() => {
      keepAlive = setInterval(() => undefined, 1000);
    });
    after(() => {
      clearInterval(keepAlive);
    });

    const cases: [string, (r: Registry) => Promise<unknown>, InvalidationReason][] = [
      ['revoke', (r) => r.setCertificateStatus(devices[0]!.id, 'REVOKED'), 'CERT_REVOKED'],
      ['deactivate', (r) => r.setCertificateStatus(devices[0]!.id, 'INACTIVE'), 'CERT_INACTIVE'],
      ['detach', (r) => r.detach('d0', devices[0]!.id), 'CERT_DETACHED'],
      ['delete thing', (r) => r.deleteThing('d0'), 'THING_DELETED'],
      ['untrust CA', (r) => r.untrustCa(ca.id), 'CA_UNTRUSTED'],
    ];
    for (const [name, act, reason] of cases) {
      it(`${name} in a second registry instance -> ${reason} within a second`, async () => {
        const store = await backend.store();
        const f = await fixture({ open: () => store.open() });
        const s0 = ok(await connect(f, 0));
        const cli = await store.open();
        try {
          await act(cli);
          // The bound is the behaviour under test: another process's change reaches the
          // sessions within a second (the manager polls the change feed every 50 ms).
          const ms = await waitUntil(() => f.events.length > 0, 1000);
          assert.ok(ms < 1000);
          assert.equal(f.manager.get(s0.token), undefined);
          assert.deepEqual(f.events.map((e) => [e.session.thingName, e.reason]), [['d0', reason]]);
        } finally {
          await cli.close();
        }
      });
    }

    it('re-checks every session when the change feed has a gap', async () => {
      const store = await backend.store();
      const f = await fixture({ open: () => store.open() });
      const s0 = ok(await connect(f, 0));
      const s1 = ok(await connect(f, 1));
      f.manager.stop(); // simulate a manager that fell behind: rebuild on a registry pruning aggressively
      const registry = await store.open({ changeRetention: 2 });
      const manager = new SessionManager({ registry, maxActiveAuthTokens: 10, watchIntervalMs: 50, clock: () => NOW });
      fixtures.push({ registry, manager, events: [] });
      const events: InvalidationReason[] = [];
      manager.onInvalidated((_, r) => events.push(r));
      const a = ok(await manager.createSession({ clientId: 'd0', certificatePem: devices[0]!.pem, now: NOW }));
      const b = ok(await manager.createSession({ clientId: 'd1', certificatePem: devices[1]!.pem, now: NOW }));
      assert.ok(s0 && s1);
      const cli = await store.open({ changeRetention: 2 });
      try {
        // Revoke d0, then push the revocation out of the retained window before the poll.
        await cli.setCertificateStatus(devices[0]!.id, 'REVOKED');
        for (let i = 0; i < 5; i++) await cli.createThing(`filler-${i}`);
        await waitUntil(() => events.length === 1, 1000);
        assert.deepEqual(events, ['CERT_REVOKED']);
        assert.equal(manager.get(a.token), undefined);
        assert.ok(manager.get(b.token));
      } finally {
        await cli.close();
      }
    });
  });

  it('does not keep a session verified before a concurrent revocation', async () => {
    const f = await fixture();
    // A registry that revokes the certificate (as another process would) in the middle
    // of the session's verification, after the status was read.
    let fired = false;
    const racing = new Proxy(f.registry, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'thingsForCertificate') {
          return async (id: string) => {
            const out = await target.thingsForCertificate(id);
            if (!fired) {
              fired = true;
              await target.setCertificateStatus(id, 'REVOKED');
            }
            return out;
          };
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const manager = new SessionManager({ registry: racing, maxActiveAuthTokens: 10, clock: () => NOW });
    try {
      fails(await manager.createSession({ clientId: 'd0', certificatePem: devices[0]!.pem, now: NOW }), 'CERT_REVOKED');
      assert.equal(manager.size, 0);
    } finally {
      manager.stop();
    }
  });
});
