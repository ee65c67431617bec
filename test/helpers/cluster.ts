/**
 * What the gateways of one test cluster share besides the database: the gateway CA
 * (its certificate and key as files every node is given, as docs/cluster.md asks of
 * an operator). A node started without them would make a CA of its own and be refused
 * with CLUSTER_CA_MISMATCH.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCa } from './pki.js';

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
