/**
 * Encryption at rest of the control plane's secrets (secret access keys of users and of
 * role sessions).
 *
 * Why encryption and not a hash: AWS Signature Version 4 is an HMAC keyed with a value
 * derived from the secret access key, so verifying a request means signing it again
 * with the secret itself; a one-way hash of the secret would make every request
 * unverifiable. Session tokens, which are only compared, are stored as SHA-256 digests.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 *
 * Scheme: AES-256-GCM with a random 32-byte key kept in `control.key` in the data
 * directory (mode 0600, created on first need), a random 96-bit nonce per secret, and
 * the access key id as additional authenticated data, so a ciphertext copied onto
 * another key id does not decrypt. Stored text: `v1:` + base64(nonce | ciphertext | tag).
 * The registry keeps a fingerprint of the key (an HMAC of a fixed label), so a wrong key
 * file is named as such instead of failing on every secret.
 *
 * The key file is refused when group or others may read or write it, or when it is not
 * a regular file of exactly 32 bytes; when it is missing while encrypted secrets exist,
 * it is not silently re-created (those secrets would be lost): that is an error too.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, writeSync, fsyncSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ControlError } from './errors.js';

/** File name of the secret key inside the data directory. */
export const CONTROL_KEY_FILE = 'control.key';
export const CONTROL_KEY_BYTES = 32;

export function controlKeyPath(dataDir: string): string {
  return join(dataDir, CONTROL_KEY_FILE);
}

const FORMAT = 'v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A loaded key: encrypts and decrypts secrets bound to an id. */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** Fingerprint of the key (hex), stored in the registry to recognise the right key file. */
  get fingerprint(): string {
    return createHmac('sha256', this.key).update('gatehouse control key fingerprint v1').digest('hex');
  }

  encrypt(id: string, secret: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return FORMAT + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
  }

  /** Throws CONTROL_SECRET_UNREADABLE when the text was not made by this key for this id. */
  decrypt(id: string, stored: string): string {
    const unreadable = (): ControlError => new ControlError('CONTROL_SECRET_UNREADABLE', `the stored secret of ${id} cannot be decrypted with the key file`,
      'the registry or the key file was altered or restored from different backups; delete the access key and create a new one');
    if (!stored.startsWith(FORMAT)) throw unreadable();
    const raw = Buffer.from(stored.slice(FORMAT.length), 'base64');
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw unreadable();
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(id, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw unreadable();
    }
  }

  /**
   * Reads the key file, or creates it (0600, exclusively) when it does not exist and
   * `mayCreate` says no secret was encrypted yet.
   */
  static load(file: string, mayCreate: () => boolean): { box: SecretBox; created: boolean } {
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw keyFileInvalid(file, `cannot open it: ${code ?? String(e)}`);
      if (!mayCreate()) {
        throw new ControlError('CONTROL_KEY_FILE_MISSING', `the key file \`${file}\` is missing, but the registry holds secrets encrypted with it`,
          'restore the key file from the backup made with the registry (same data directory); without it every access key must be deleted and created again');
      }
      return { box: SecretBox.create(file), created: true };
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw keyFileInvalid(file, 'it is not a regular file');
      if ((st.mode & 0o077) !== 0) {
        throw new ControlError('CONTROL_KEY_FILE_INSECURE', `the key file \`${file}\` has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; group and others must have no access`,
          `run \`chmod 600 ${file}\`, and consider the secrets it protects exposed if others could read it (rotate the access keys)`);
      }
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw keyFileInvalid(file, 'it is owned by another user');
      if (st.size !== CONTROL_KEY_BYTES) throw keyFileInvalid(file, `it has ${st.size} bytes instead of ${CONTROL_KEY_BYTES}`);
      const key = Buffer.alloc(CONTROL_KEY_BYTES);
      if (readSync(fd, key, 0, CONTROL_KEY_BYTES, 0) !== CONTROL_KEY_BYTES) throw keyFileInvalid(file, 'it could not be read whole');
      return { box: new SecretBox(key), created: false };
    } finally {
      closeSync(fd);
    }
  }

  private static create(file: string): SecretBox {
    const key = randomBytes(CONTROL_KEY_BYTES);
    let fd: number;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Another process created it between our open and this one: use theirs.
      if (code === 'EEXIST') return SecretBox.load(file, () => false).box;
      throw keyFileInvalid(file, `cannot create it: ${code ?? String(e)}`);
    }
    try {
      writeSync(fd, key);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      unlinkSync(file);
      throw keyFileInvalid(file, `cannot write it: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    closeSync(fd);
    return new SecretBox(key);
  }
}

function keyFileInvalid(file: string, why: string): ControlError {
  return new ControlError('CONTROL_KEY_FILE_INVALID', `the key file \`${file}\` is not usable: ${why}`,
    `it must be a regular ${CONTROL_KEY_BYTES}-byte file owned by the user running gatehouse, mode 0600; restore it from backup`);
}
