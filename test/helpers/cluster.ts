/**
 * What the gateways of one test cluster share besides the database: the gateway CA
 * (its certificate and key as files every node is given, as docs/cluster.md asks of
 * an operator; a node started without them would make a CA of its own and be refused
 * with CLUSTER_CA_MISMATCH), and devices enrolled in the shared registry.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PgRegistry } from '../../src/identity/pg-registry.js';
import type { Device } from './gateway.js';
import { makeCa, makeLeaf } from './pki.js';

const DAY = 86_400_000;

export interface ClusterCa {
  /** The CA certificate (PEM): what devices and API clients trust for every node. */
  readonly pem: string;
  /** The `certificateAuthority` section of a node's configuration (top-level YAML). */
  readonly yaml: string;
}

/** Writes a new gateway CA's files into `dir` and returns what a node configuration needs. */
export async function clusterCa(dir: string, name = 'CN=Test cluster gateway CA'): Promise<ClusterCa> {
  const ca = await makeCa({ name, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) });
  const cert = join(dir, 'cluster-ca.pem');
  const key = join(dir, 'cluster-ca.key');
  await writeFile(cert, ca.pem);
  await writeFile(key, ca.keyPem, { mode: 0o600 });
  return { pem: ca.pem, yaml: `certificateAuthority:\n  certificateUri: "${cert}"\n  privateKeyUri: "${key}"\n` };
}

/** Devices of a shared registry, enrolled as an operator (or another node) would. */
export interface SharedDevices {
  /** A new device: certificate issued by the registry's device CA, thing created and attached; it trusts the nodes' server certificates. */
  enroll(name: string): Promise<Device>;
}

/**
 * Makes a device CA, has `registry` trust it, and enrolls devices under it. `serverCa` is
 * what the devices trust for the nodes: the cluster's gateway CA, or one node's own.
 * Certificates are valid around the real clock (the gateways check validity against it).
 */
export async function sharedDevices(registry: Pick<PgRegistry, 'trustCa' | 'enroll'>, serverCa: string | Buffer, caName: string): Promise<SharedDevices> {
  const ca = await makeCa({ name: caName, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) });
  await registry.trustCa(ca.pem);
  return {
    async enroll(name) {
      const leaf = await makeLeaf({ issuer: ca, cn: name, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY) });
      await registry.enroll({ thingName: name, certificatePem: leaf.pem, thing: 'new' });
      return { name, key: Buffer.from(leaf.keyPem), cert: Buffer.from(leaf.pem), ca: Buffer.from(serverCa), keyPath: '', certPath: '', caPath: '', certificateId: leaf.id };
    },
  };
}
