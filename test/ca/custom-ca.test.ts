import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CaError, GatewayCa } from '../../src/ca/authority.js';
import type { CertificateAuthorityConfig } from '../../src/core/config/types.js';
import { hasOpenssl, openssl, opensslOk } from '../helpers/openssl.js';
import { makeCert, x509, type TestCert } from '../helpers/pki.js';
import { makeProcessTempDir, makeTempDir } from '../helpers/tmp-dir.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const DAY = 86_400_000;

function isCaError(code: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof CaError, `expected CaError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.fix !== undefined && e.fix.length > 0);
    assert.doesNotMatch(e.message, /-----|[A-Za-z0-9+/]{40,}/, 'no PEM or base64 in messages');
    return true;
  };
}

function cfg(c: Omit<CertificateAuthorityConfig, 'caType'>): CertificateAuthorityConfig {
  return { caType: 'ECDSA_P256', ...c };
}

describe('custom CA', () => {
  let pki: string; // directory with PEM files
  let root: TestCert;
  let inter: TestCert;

  before(async () => {
    pki = makeProcessTempDir('gatehouse-pki-');
    root = await makeCert({ name: 'CN=Test Root' });
    inter = await makeCert({ name: 'CN=Test Issuing CA, O=Example', issuer: root, pathLength: 0 });
    const files: Record<string, string> = {
      'root.pem': root.pem,
      'root.key': root.keyPem,
      'inter.pem': inter.pem,
      'inter.key': inter.keyPem,
      'chain.pem': inter.pem + root.pem,
      'parents.pem': root.pem,
      'inter-and-root.pem': inter.pem + root.pem,
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(pki, name), text, { mode: 0o600 });
  });

  test('intermediate with a chain file (file: URIs and paths) is accepted and issues verifiable certificates', async (t) => {
    const dataDir = await makeTempDir(t);
    const ca = await GatewayCa.open({
      dataDir,
      config: cfg({
        certificateUri: join(pki, 'inter.pem'),
        privateKeyUri: pathToFileURL(join(pki, 'inter.key')).href,
        certificateChainUri: pathToFileURL(join(pki, 'chain.pem')).href,
      }),
    });
    assert.equal(ca.kind, 'custom');
    assert.equal(ca.certificatePem, inter.pem);
    assert.deepEqual(ca.chainPem, [inter.pem, root.pem]);
    assert.equal(ca.id, createHash('sha256').update(new X509Certificate(inter.pem).raw).digest('hex'));
    assert.equal(await readFile(join(dataDir, 'ca', 'ca.pem'), 'utf8'), inter.pem);
    assert.equal(await readFile(join(dataDir, 'ca', 'chain.pem'), 'utf8'), inter.pem + root.pem);
    assert.ok(!(await readdir(join(dataDir, 'ca'))).includes('managed-ca.pem'), 'no managed CA created');

    const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1', 'gw.example.com'], validitySeconds: 7 * 86400 });
    const dev = await ca.issueDeviceCertificate({ thingName: 'custom-dev' });
    assert.deepEqual(server.chainPem, [inter.pem, root.pem]);
    for (const leaf of [server, dev]) {
      const node = new X509Certificate(leaf.certificatePem);
      assert.ok(node.checkIssued(new X509Certificate(inter.pem)) && node.verify(new X509Certificate(inter.pem).publicKey));
      assert.ok(leaf.notAfter.getTime() <= new Date(new X509Certificate(inter.pem).validTo).getTime());
      // The issuer name is byte-identical to the CA's subject (strict TLS stacks compare raw bytes).
      assert.deepEqual(Buffer.from(new x509.X509Certificate(leaf.certificatePem).issuerName.toArrayBuffer()),
        Buffer.from(inter.cert.subjectName.toArrayBuffer()));
    }
    if (hasOpenssl) {
      const dir = await makeTempDir(t);
      await writeFile(join(dir, 'server.pem'), server.certificatePem);
      await writeFile(join(dir, 'dev.pem'), dev.certificatePem);
      const out = opensslOk(['verify', '-CAfile', join(pki, 'root.pem'), '-untrusted', join(pki, 'inter.pem'), join(dir, 'server.pem'), join(dir, 'dev.pem')]);
      assert.match(out, /server\.pem: OK/);
      assert.match(out, /dev\.pem: OK/);
      // Without the intermediate the root alone does not verify the leaf.
      assert.notEqual(openssl(['verify', '-CAfile', join(pki, 'root.pem'), join(dir, 'server.pem')]).status, 0);
    }
  });

  test('a chain file holding only the parents, or a certificate file holding the chain, is accepted', async (t) => {
    const a = await GatewayCa.open({
      dataDir: await makeTempDir(t),
      config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(pki, 'inter.key'), certificateChainUri: join(pki, 'parents.pem') }),
    });
    assert.deepEqual(a.chainPem, [inter.pem, root.pem]);
    const b = await GatewayCa.open({
      dataDir: await makeTempDir(t),
      config: cfg({ certificateUri: join(pki, 'inter-and-root.pem'), privateKeyUri: join(pki, 'inter.key') }),
    });
    assert.deepEqual(b.chainPem, [inter.pem, root.pem]);
    assert.equal(a.id, b.id);
  });

  test('relative paths resolve against baseDir', async (t) => {
    const ca = await GatewayCa.open({
      dataDir: await makeTempDir(t),
      baseDir: pki,
      config: cfg({ certificateUri: 'root.pem', privateKeyUri: './root.key' }),
    });
    assert.equal(ca.certificatePem, root.pem);
    assert.deepEqual(ca.chainPem, [root.pem]);
  });

  test('a root without keyUsage is accepted (basicConstraints suffices)', async (t) => {
    const dir = await makeTempDir(t);
    const bare = await makeCert({ name: 'CN=Bare Root', keyUsage: null });
    await writeFile(join(dir, 'c.pem'), bare.pem);
    await writeFile(join(dir, 'k.pem'), bare.keyPem);
    const ca = await GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(dir, 'c.pem'), privateKeyUri: join(dir, 'k.pem') }) });
    assert.ok(ca.issued((await ca.issueDeviceCertificate({ thingName: 'd' })).certificatePem));
  });

  test('OpenSSL-made CAs with traditional key formats (SEC1 P-384, PKCS#1 RSA) and Ed25519 are accepted', { skip: !hasOpenssl }, async (t) => {
    const dir = await makeTempDir(t);
    const make = (name: string, keyArgs: string[]): void => {
      const [cmd, ...rest] = keyArgs;
      const bits = cmd === 'genrsa' ? [rest.pop() as string] : [];
      opensslOk([cmd as string, ...rest, '-out', join(dir, `${name}.key`), ...bits]);
      opensslOk(['req', '-x509', '-new', '-key', join(dir, `${name}.key`), '-subj', `/CN=${name}`, '-days', '30', '-out', join(dir, `${name}.pem`),
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    };
    make('ec384', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout']);
    make('rsa', ['genrsa', '-traditional', '2048']);
    make('ed', ['genpkey', '-algorithm', 'ed25519']);
    assert.match(await readFile(join(dir, 'ec384.key'), 'utf8'), /BEGIN EC PRIVATE KEY/);
    assert.match(await readFile(join(dir, 'rsa.key'), 'utf8'), /BEGIN RSA PRIVATE KEY/);
    for (const name of ['ec384', 'rsa', 'ed']) {
      const ca = await GatewayCa.open({ dataDir: join(dir, `data-${name}`), config: cfg({ certificateUri: join(dir, `${name}.pem`), privateKeyUri: join(dir, `${name}.key`) }) });
      const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1'], validitySeconds: 86400 * 3 });
      await writeFile(join(dir, `${name}-leaf.pem`), server.certificatePem);
      const out = opensslOk(['verify', '-CAfile', join(dir, `${name}.pem`), join(dir, `${name}-leaf.pem`)]);
      assert.match(out, /OK/, name);
    }
  });

  test('a key that does not belong to the certificate is refused with CA_KEY_MISMATCH', async (t) => {
    const dataDir = await makeTempDir(t);
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(pki, 'root.key') }) }), isCaError('CA_KEY_MISMATCH'));
    assert.ok(!(await readdir(join(dataDir, 'ca'))).includes('managed-ca.pem'), 'no silent fallback to a managed CA');
  });

  test('certificates that are not CAs are refused with CA_NOT_A_CA', async (t) => {
    const dir = await makeTempDir(t);
    const cases: [string, TestCert][] = [
      ['leaf', await makeCert({ name: 'CN=leaf', issuer: root, ca: false })],
      ['no-bc', await makeCert({ name: 'CN=nobc', ca: null, keyUsage: null })],
      ['no-keycertsign', await makeCert({ name: 'CN=nokcs', keyUsage: 1 /* digitalSignature */ })],
    ];
    for (const [name, c] of cases) {
      await writeFile(join(dir, `${name}.pem`), c.pem);
      await writeFile(join(dir, `${name}.key`), c.keyPem);
      await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(dir, `${name}.pem`), privateKeyUri: join(dir, `${name}.key`) }) }),
        isCaError('CA_NOT_A_CA'), name);
    }
  });

  test('unreadable files are refused with CA_FILE_UNREADABLE', async (t) => {
    const dir = await makeTempDir(t);
    await mkdir(join(dir, 'a-directory'));
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(dir, 'missing.pem'), privateKeyUri: join(pki, 'inter.key') }) }),
      (e: unknown) => isCaError('CA_FILE_UNREADABLE')(e) && /missing\.pem.*ENOENT/.test((e as Error).message));
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(dir, 'a-directory') }) }),
      isCaError('CA_FILE_UNREADABLE'));
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(pki, 'inter.key'), certificateChainUri: join(dir, 'nope.pem') }) }),
      isCaError('CA_FILE_UNREADABLE'));
    if (!isRoot) {
      await writeFile(join(dir, 'locked.key'), inter.keyPem);
      await chmod(join(dir, 'locked.key'), 0o000);
      await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(dir, 'locked.key') }) }),
        isCaError('CA_FILE_UNREADABLE'));
    }
  });

  test('garbage and truncated PEM are refused with CA_PEM_INVALID', async (t) => {
    const dir = await makeTempDir(t);
    const body = inter.pem.split('\n').slice(1, -2).join('\n');
    const files: Record<string, string> = {
      'garbage.pem': 'this is not a certificate\n',
      'empty.pem': '',
      'truncated.pem': inter.pem.slice(0, Math.floor(inter.pem.length / 2)),
      'bad-body.pem': `-----BEGIN CERTIFICATE-----\n${body.slice(0, 100)}!!\n-----END CERTIFICATE-----\n`,
      'bad-der.pem': `-----BEGIN CERTIFICATE-----\n${Buffer.from('definitely not DER').toString('base64')}\n-----END CERTIFICATE-----\n`,
      'mismatched-footer.pem': `-----BEGIN CERTIFICATE-----\n${body}\n-----END PRIVATE KEY-----\n`,
      'garbage.key': 'nope',
      'truncated.key': inter.keyPem.slice(0, 80),
      'bad-der.key': `-----BEGIN PRIVATE KEY-----\n${Buffer.from('not a key at all').toString('base64')}\n-----END PRIVATE KEY-----\n`,
      'cert-as-key.key': inter.pem,
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    for (const name of Object.keys(files).filter((n) => n.endsWith('.pem'))) {
      await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(dir, name), privateKeyUri: join(pki, 'inter.key') }) }),
        isCaError('CA_PEM_INVALID'), name);
    }
    for (const name of Object.keys(files).filter((n) => n.endsWith('.key'))) {
      await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(dir, name) }) }),
        isCaError('CA_PEM_INVALID'), name);
    }
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'data'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(pki, 'inter.key'), certificateChainUri: join(dir, 'garbage.pem') }) }),
      isCaError('CA_PEM_INVALID'));
  });

  test('pkcs11: URIs are refused with CA_PKCS11_UNSUPPORTED, other schemes with CA_URI_UNSUPPORTED', async (t) => {
    const dataDir = await makeTempDir(t);
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: 'pkcs11:token=gw;object=ca-key;type=private' }) }),
      (e: unknown) => isCaError('CA_PKCS11_UNSUPPORTED')(e) && /PKCS#11/.test((e as Error).message));
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateUri: 'PKCS11:object=ca', privateKeyUri: join(pki, 'inter.key') }) }), isCaError('CA_PKCS11_UNSUPPORTED'));
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateUri: 'https://example.com/ca.pem', privateKeyUri: join(pki, 'inter.key') }) }), isCaError('CA_URI_UNSUPPORTED'));
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateUri: 'file://remote-host/ca.pem', privateKeyUri: join(pki, 'inter.key') }) }), isCaError('CA_URI_UNSUPPORTED'));
  });

  test('incomplete custom CA settings are refused with CA_CONFIG_INCOMPLETE', async (t) => {
    const dataDir = await makeTempDir(t);
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateUri: join(pki, 'inter.pem') }) }), isCaError('CA_CONFIG_INCOMPLETE'));
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ privateKeyUri: join(pki, 'inter.key') }) }), isCaError('CA_CONFIG_INCOMPLETE'));
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateChainUri: join(pki, 'chain.pem') }) }), isCaError('CA_CONFIG_INCOMPLETE'));
    await assert.rejects(GatewayCa.open({ dataDir, config: cfg({ certificateUri: ' ', privateKeyUri: join(pki, 'inter.key') }) }), isCaError('CA_CONFIG_INCOMPLETE'));
  });

  test('a key encrypted with a passphrase is refused with CA_KEY_ENCRYPTED', { skip: !hasOpenssl }, async (t) => {
    const dir = await makeTempDir(t);
    opensslOk(['pkcs8', '-topk8', '-in', join(pki, 'inter.key'), '-out', join(dir, 'enc.key'), '-passout', 'pass:secret', '-v2', 'aes-256-cbc']);
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'd'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(dir, 'enc.key') }) }), isCaError('CA_KEY_ENCRYPTED'));
    opensslOk(['ec', '-in', join(pki, 'inter.key'), '-aes256', '-passout', 'pass:secret', '-out', join(dir, 'legacy.key')]);
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'd'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(dir, 'legacy.key') }) }), isCaError('CA_KEY_ENCRYPTED'));
  });

  test('a weak RSA CA key is refused with CA_KEY_UNSUPPORTED', { skip: !hasOpenssl }, async (t) => {
    const dir = await makeTempDir(t);
    opensslOk(['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/CN=weak', '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE']);
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'd'), config: cfg({ certificateUri: join(dir, 'c.pem'), privateKeyUri: join(dir, 'k.pem') }) }), isCaError('CA_KEY_UNSUPPORTED'));
  });

  test('a chain that does not link up is refused with CA_CHAIN_INVALID', async (t) => {
    const dir = await makeTempDir(t);
    const stranger = await makeCert({ name: 'CN=Stranger Root' });
    await writeFile(join(dir, 'stranger.pem'), stranger.pem);
    await writeFile(join(dir, 'wrong-order.pem'), root.pem + inter.pem);
    await writeFile(join(dir, 'gap.pem'), inter.pem + stranger.pem);
    for (const chain of ['stranger.pem', 'wrong-order.pem', 'gap.pem']) {
      await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'd'), config: cfg({ certificateUri: join(pki, 'inter.pem'), privateKeyUri: join(pki, 'inter.key'), certificateChainUri: join(dir, chain) }) }),
        isCaError('CA_CHAIN_INVALID'), chain);
    }
    // A root whose pathLenConstraint 0 forbids the intermediate below it.
    const strictRoot = await makeCert({ name: 'CN=Strict Root', pathLength: 0 });
    const sub = await makeCert({ name: 'CN=Sub', issuer: strictRoot });
    await writeFile(join(dir, 'sub.pem'), sub.pem);
    await writeFile(join(dir, 'sub.key'), sub.keyPem);
    await writeFile(join(dir, 'strict.pem'), strictRoot.pem);
    await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'd'), config: cfg({ certificateUri: join(dir, 'sub.pem'), privateKeyUri: join(dir, 'sub.key'), certificateChainUri: join(dir, 'strict.pem') }) }),
      isCaError('CA_CHAIN_INVALID'));
  });

  test('expired and not-yet-valid CAs are refused', async (t) => {
    const dir = await makeTempDir(t);
    const expired = await makeCert({ name: 'CN=Old', notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
    const future = await makeCert({ name: 'CN=Future', notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) });
    for (const [name, c, code] of [['old', expired, 'CA_EXPIRED'], ['future', future, 'CA_NOT_YET_VALID']] as const) {
      await writeFile(join(dir, `${name}.pem`), c.pem);
      await writeFile(join(dir, `${name}.key`), c.keyPem);
      await assert.rejects(GatewayCa.open({ dataDir: join(dir, 'd'), config: cfg({ certificateUri: join(dir, `${name}.pem`), privateKeyUri: join(dir, `${name}.key`) }) }), isCaError(code));
    }
    // An injected clock decides validity.
    await GatewayCa.open({ dataDir: join(dir, 'd'), now: () => new Date(Date.now() - 10 * DAY), config: cfg({ certificateUri: join(dir, 'old.pem'), privateKeyUri: join(dir, 'old.key') }) });
  });
});
