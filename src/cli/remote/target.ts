/**
 * Where a command runs: against the local data directory, or against a remote gateway's
 * management API. Resolved once per invocation, in the AWS CLI's order of precedence
 * (https://docs.aws.amazon.com/cli/latest/userguide/cli-chap-configure.html:
 * command-line options, then environment variables, then the credentials file, then the
 * config file):
 *
 * - endpoint: `--endpoint URL`, `GATEHOUSE_ENDPOINT`, the profile's `endpoint`;
 *   none anywhere: local mode, exactly as before.
 * - profile: `--profile P`, `GATEHOUSE_PROFILE`, `default`.
 * - credentials: with `--profile` on the command line, that profile's keys in the
 *   credentials file (the environment's keys are ignored, as the AWS CLI does); else
 *   `GATEHOUSE_ACCESS_KEY_ID` + `GATEHOUSE_SECRET_ACCESS_KEY` (+ `GATEHOUSE_SESSION_TOKEN`),
 *   else the profile's keys in the credentials file.
 * - region (the SigV4 scope; must be the gateway's `gatehouse.iot.region`):
 *   `GATEHOUSE_REGION`, the profile's `region`, else `us-east-1` (the gateway's default).
 * - CA bundle (PEM the gateway's certificate must chain to): `GATEHOUSE_CA_BUNDLE`, the
 *   profile's `ca_bundle`, else the system's trusted CAs.
 *
 * Files: `~/.gatehouse/config` (`[default]`, `[profile NAME]`: endpoint, region,
 * ca_bundle) and `~/.gatehouse/credentials` (`[NAME]`: aws_access_key_id,
 * aws_secret_access_key, aws_session_token); `GATEHOUSE_CONFIG_FILE` and
 * `GATEHOUSE_SHARED_CREDENTIALS_FILE` name other files (so the administrator's
 * `admin-credentials` file of a data directory can be used as it is). A credentials
 * file readable or writable by group or others is refused (unlike the AWS CLI, which
 * reads it anyway): secrets in a file others can read are already disclosed.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { DEFAULT_IOT_DEPLOYMENT } from '../../core/policy/iot/context.js';
import { CliError, EXIT } from '../output.js';
import { parseIni, type IniSections } from './ini.js';

/** The gateway's default `gatehouse.iot.region` (`us-east-1`). */
export const DEFAULT_REGION = DEFAULT_IOT_DEPLOYMENT.region;

/** Access key credentials. The secret and token are kept out of JSON, `util.inspect` and string forms. */
export class RemoteCredentials {
  readonly accessKeyId: string;
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;

  constructor(accessKeyId: string, secretAccessKey: string, sessionToken?: string) {
    this.accessKeyId = accessKeyId;
    this.#secretAccessKey = secretAccessKey;
    this.#sessionToken = sessionToken;
  }

  get secretAccessKey(): string {
    return this.#secretAccessKey;
  }

  get sessionToken(): string | undefined {
    return this.#sessionToken;
  }

  toJSON(): Record<string, string> {
    return { accessKeyId: this.accessKeyId };
  }
}

export interface RemoteTarget {
  readonly kind: 'remote';
  /** `https://HOST:PORT` (no path). */
  readonly endpoint: URL;
  readonly region: string;
  readonly credentials: RemoteCredentials;
  /** PEM certificates to trust instead of the system's, when a CA bundle is configured. */
  readonly ca?: string;
  /** Where each setting came from, for error messages (`--endpoint`, `GATEHOUSE_ENDPOINT`, `profile dev in FILE`, …). */
  readonly sources: { readonly endpoint: string; readonly credentials: string; readonly region: string };
}

export type Target = { readonly kind: 'local' } | RemoteTarget;

export interface TargetFlags {
  readonly endpoint?: string;
  readonly profile?: string;
}

export interface TargetEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Used when HOME is unset or empty. */
  readonly homedir?: string;
  /** Relative GATEHOUSE_CA_BUNDLE paths are resolved against it. */
  readonly cwd?: string;
  readonly platform?: NodeJS.Platform;
}

const CONFIG_KEYS = new Set(['endpoint', 'region', 'ca_bundle']);
const CREDENTIAL_KEYS = new Set(['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token']);
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const PROFILE = /^[A-Za-z0-9_.@+=,-]{1,64}$/;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** Resolves where a command runs. Throws a coded CliError for every inconsistent or unsafe setting. */
export function resolveTarget(flags: TargetFlags, environment: TargetEnvironment): Target {
  const env = environment.env;
  const home = nonEmpty(env['HOME']) ?? environment.homedir ?? homedir();
  const cwd = environment.cwd ?? process.cwd();
  const envProfile = nonEmpty(env['GATEHOUSE_PROFILE']);
  const profile = flags.profile ?? envProfile ?? 'default';
  const profileSource = flags.profile !== undefined ? '--profile' : envProfile !== undefined ? 'GATEHOUSE_PROFILE' : undefined;
  if (!PROFILE.test(profile)) throw new CliError('USAGE', `profile name \`${profile.slice(0, 80)}\` is not valid`, EXIT.USAGE, 'profile names are 1-64 letters, digits and _ . @ + = , -');

  const configFile = resolve(cwd, nonEmpty(env['GATEHOUSE_CONFIG_FILE']) ?? join(home, '.gatehouse', 'config'));
  const credentialsFile = resolve(cwd, nonEmpty(env['GATEHOUSE_SHARED_CREDENTIALS_FILE']) ?? join(home, '.gatehouse', 'credentials'));
  const config = readIniIfPresent(configFile);
  const settings = config !== undefined ? profileSettings(config, profile, configFile) : undefined;

  const endpointText = flags.endpoint ?? nonEmpty(env['GATEHOUSE_ENDPOINT']) ?? settings?.get('endpoint');
  const endpointSource = flags.endpoint !== undefined ? '--endpoint' : nonEmpty(env['GATEHOUSE_ENDPOINT']) !== undefined ? 'GATEHOUSE_ENDPOINT' : `profile ${profile} in ${configFile}`;
  if (endpointText === undefined || endpointText === '') {
    if (profileSource !== undefined) {
      throw new CliError('REMOTE_ENDPOINT_MISSING', `${profileSource} names profile \`${profile}\`, but no endpoint is set for it`, EXIT.USAGE,
        `add \`endpoint = https://HOST:PORT\` under \`[${profile === 'default' ? 'default' : `profile ${profile}`}]\` in ${configFile}, or pass --endpoint`);
    }
    return { kind: 'local' };
  }
  const endpoint = parseEndpoint(endpointText, endpointSource);

  const envRegion = nonEmpty(env['GATEHOUSE_REGION']);
  const region = envRegion ?? nonEmpty(settings?.get('region')) ?? DEFAULT_REGION;
  const regionSource = envRegion !== undefined ? 'GATEHOUSE_REGION' : settings?.get('region') !== undefined ? `profile ${profile} in ${configFile}` : 'the default';
  if (!REGION.test(region)) throw new CliError('REMOTE_CONFIG_INVALID', `region \`${region.slice(0, 64)}\` (from ${regionSource}) is not an AWS region name`, EXIT.USAGE, 'use the gateway\'s gatehouse.iot.region, such as `eu-west-1`');

  const envCa = nonEmpty(env['GATEHOUSE_CA_BUNDLE']);
  const caPath = envCa !== undefined ? resolve(cwd, envCa) : settings?.get('ca_bundle') !== undefined && settings.get('ca_bundle') !== '' ? resolve(dirname(configFile), settings.get('ca_bundle')!) : undefined;
  const ca = caPath !== undefined ? readCaBundle(caPath) : undefined;

  const { credentials, source } = resolveCredentials(flags, env, profile, credentialsFile, environment.platform ?? process.platform);
  return {
    kind: 'remote',
    endpoint,
    region,
    credentials,
    ...(ca !== undefined ? { ca } : {}),
    sources: { endpoint: endpointSource, credentials: source, region: regionSource },
  };
}

function parseEndpoint(text: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError('REMOTE_ENDPOINT_INVALID', `the endpoint \`${text.slice(0, 200)}\` (from ${source}) is not a URL`, EXIT.USAGE, 'give the management API\'s address as https://HOST:PORT (the gateway prints it at start)');
  }
  if (url.protocol !== 'https:') {
    throw new CliError('REMOTE_ENDPOINT_INVALID', `the endpoint (from ${source}) must use https, not ${url.protocol.replace(/:$/, '')}`, EXIT.USAGE, 'the management API listens on HTTPS only: use https://HOST:PORT');
  }
  if (url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new CliError('REMOTE_ENDPOINT_INVALID', `the endpoint (from ${source}) must be https://HOST[:PORT] without user, path, query or fragment`, EXIT.USAGE, 'give only the scheme, host and port');
  }
  return new URL(`${url.protocol}//${url.host}`);
}

function readIniIfPresent(file: string): IniSections | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(file, e);
  }
  return parseIni(text, file);
}

function unreadable(file: string, e: unknown): CliError {
  return new CliError('FILE_UNREADABLE', `cannot read \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.USAGE, 'check the path and permissions');
}

/** The settings of a profile in the config file (`[default]` or `[profile NAME]`), checked. */
function profileSettings(config: IniSections, profile: string, file: string): ReadonlyMap<string, string> | undefined {
  for (const [name, values] of config) {
    const named = name === 'default' ? 'default' : name.startsWith('profile ') ? name.slice('profile '.length).trim() : undefined;
    if (named === undefined) {
      throw new CliError('REMOTE_CONFIG_INVALID', `${file}: section \`[${name}]\` is neither \`[default]\` nor \`[profile NAME]\``, EXIT.USAGE, 'in the config file, name profiles `[profile NAME]` (the credentials file uses `[NAME]`)');
    }
    for (const key of values.keys()) {
      if (!CONFIG_KEYS.has(key)) {
        const hint = CREDENTIAL_KEYS.has(key) ? 'keys belong in the credentials file (mode 0600), not in the config file' : 'the settings are endpoint, region and ca_bundle';
        throw new CliError('REMOTE_CONFIG_INVALID', `${file}: unknown setting \`${key}\` in \`[${name}]\``, EXIT.USAGE, hint);
      }
    }
  }
  return config.get(profile === 'default' ? 'default' : `profile ${profile}`);
}

function resolveCredentials(flags: TargetFlags, env: Readonly<Record<string, string | undefined>>, profile: string, file: string, platform: NodeJS.Platform): { credentials: RemoteCredentials; source: string } {
  const id = nonEmpty(env['GATEHOUSE_ACCESS_KEY_ID']);
  const secret = nonEmpty(env['GATEHOUSE_SECRET_ACCESS_KEY']);
  const token = nonEmpty(env['GATEHOUSE_SESSION_TOKEN']);
  if (flags.profile === undefined && (id !== undefined || secret !== undefined)) {
    if (id === undefined || secret === undefined) {
      throw new CliError('REMOTE_CREDENTIALS_MISSING', `${id === undefined ? 'GATEHOUSE_SECRET_ACCESS_KEY is set without GATEHOUSE_ACCESS_KEY_ID' : 'GATEHOUSE_ACCESS_KEY_ID is set without GATEHOUSE_SECRET_ACCESS_KEY'}`, EXIT.USAGE, 'set both, or neither to use the credentials file');
    }
    return { credentials: new RemoteCredentials(id, secret, token), source: 'GATEHOUSE_ACCESS_KEY_ID' };
  }
  const missing = (why: string): CliError => new CliError('REMOTE_CREDENTIALS_MISSING', `no credentials for the remote gateway: ${why}`, EXIT.USAGE,
    `add \`[${profile}]\` with aws_access_key_id and aws_secret_access_key to ${file} (mode 0600), or set GATEHOUSE_ACCESS_KEY_ID and GATEHOUSE_SECRET_ACCESS_KEY`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missing(`${file} does not exist`);
    throw unreadable(file, e);
  }
  if (platform !== 'win32') {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new CliError('REMOTE_CREDENTIALS_FILE_INSECURE', `${file} has mode ${mode.toString(8).padStart(4, '0')}: group or others can read or change it; its keys are not used`, EXIT.USAGE,
        `run \`chmod 600 ${file}\`, and replace its keys if others may have read them`);
    }
  }
  const sections = parseIni(text, file);
  const section = sections.get(profile);
  if (section === undefined) throw missing(`${file} has no section \`[${profile}]\``);
  for (const key of section.keys()) {
    if (!CREDENTIAL_KEYS.has(key)) throw new CliError('REMOTE_CONFIG_INVALID', `${file}: unknown setting \`${key}\` in \`[${profile}]\``, EXIT.USAGE, 'the settings are aws_access_key_id, aws_secret_access_key and aws_session_token');
  }
  const fileId = nonEmpty(section.get('aws_access_key_id'));
  const fileSecret = nonEmpty(section.get('aws_secret_access_key'));
  if (fileId === undefined || fileSecret === undefined) throw missing(`\`[${profile}]\` in ${file} lacks ${fileId === undefined ? 'aws_access_key_id' : 'aws_secret_access_key'}`);
  return { credentials: new RemoteCredentials(fileId, fileSecret, nonEmpty(section.get('aws_session_token'))), source: `profile ${profile} in ${file}` };
}

function readCaBundle(path: string): string {
  if (!isAbsolute(path)) throw new CliError('USAGE', `CA bundle path \`${path}\` is not absolute`);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw unreadable(path, e);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CliError('REMOTE_CONFIG_INVALID', `the CA bundle \`${path}\` holds no PEM certificate`, EXIT.USAGE, 'point GATEHOUSE_CA_BUNDLE or ca_bundle at the gateway CA (ca.pem written by `gatehouse things create`, or `gatehouse ca export`)');
  }
  return pem;
}
