/**
 * Greengrass v2 GetConnectivityInfo and UpdateConnectivityInfo
 * (https://docs.aws.amazon.com/greengrass/v2/APIReference/API_UpdateConnectivityInfo.html):
 * the host addresses and ports at which client devices reach the gateway's broker. As
 * in the Greengrass client device auth component, the host addresses become subject
 * alternative names of the broker's server certificate: an update that changes them
 * re-issues the certificate before it answers.
 *
 * IAM: `greengrass:GetConnectivityInfo` / `greengrass:UpdateConnectivityInfo` on
 * `arn:PARTITION:greengrass:REGION:ACCOUNT:/greengrass/things/THING/connectivityInfo`.
 *
 * What differs from AWS: the thing name is the core device's name as the caller chooses
 * it (Gatehouse is one broker, and the addresses under every name are its names); it need
 * not be a registered thing. A host address must be usable in a certificate (an IP
 * address or a DNS name, no port: ValidationException otherwise). `Version` is a counter
 * per thing name.
 */
import { classifyHost } from '../../../ca/hosts.js';
import { CaError } from '../../../ca/errors.js';
import { MAX_CONNECTIVITY_ENTRIES, type ConnectivityEntry } from '../../../ca/connectivity.js';
import { thingNameProblem } from '../../../core/names.js';
import { connectivityInfoArn } from '../aws/arns.js';
import { AwsServiceError } from '../aws/errors.js';
import { Input, type AwsCall, type AwsOperation } from '../aws/operation.js';
import type { IotControlPlaneContext } from '../iot/context.js';

type Ctx = IotControlPlaneContext;

function thingName(input: Input): string {
  const name = input.label('thingName');
  const problem = thingNameProblem(name);
  if (problem !== undefined) throw input.fail(`thingName: ${problem}`);
  return name;
}

function entries(input: Input): ConnectivityEntry[] {
  const list = input.list('ConnectivityInfo');
  if (list === undefined) throw input.fail('ConnectivityInfo is required');
  if (list.length > MAX_CONNECTIVITY_ENTRIES) throw input.fail(`ConnectivityInfo holds at most ${MAX_CONNECTIVITY_ENTRIES} entries`);
  return list.map((v, i) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw input.fail(`ConnectivityInfo[${i}] must be an object`);
    const { Id, HostAddress, PortNumber, Metadata } = v as Record<string, unknown>;
    if (typeof HostAddress !== 'string' || HostAddress === '') throw input.fail(`ConnectivityInfo[${i}].HostAddress is required`);
    if (Id !== undefined && typeof Id !== 'string') throw input.fail(`ConnectivityInfo[${i}].Id must be a string`);
    if (Metadata !== undefined && typeof Metadata !== 'string') throw input.fail(`ConnectivityInfo[${i}].Metadata must be a string`);
    if (PortNumber !== undefined && (typeof PortNumber !== 'number' || !Number.isInteger(PortNumber) || PortNumber < 0 || PortNumber > 65535)) {
      throw input.fail(`ConnectivityInfo[${i}].PortNumber must be an integer from 0 to 65535`);
    }
    try {
      classifyHost(HostAddress);
    } catch (e) {
      if (e instanceof CaError) throw input.fail(`ConnectivityInfo[${i}].HostAddress: ${e.message}`);
      throw e;
    }
    return { id: Id ?? HostAddress, hostAddress: HostAddress, portNumber: PortNumber ?? 8883, metadata: Metadata ?? '' };
  });
}

async function getConnectivityInfo(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = new Input(call, 'ValidationException');
  const name = thingName(input);
  await call.authorize({ action: 'greengrass:GetConnectivityInfo', resource: connectivityInfoArn(ctx.deployment(), name) });
  const record = ctx.connectivity.get(name);
  return {
    ConnectivityInfo: (record?.entries ?? []).map((e) => ({ Id: e.id, HostAddress: e.hostAddress, PortNumber: e.portNumber, Metadata: e.metadata })),
  };
}

async function updateConnectivityInfo(ctx: Ctx, call: AwsCall): Promise<Record<string, unknown>> {
  const input = new Input(call, 'ValidationException');
  const name = thingName(input);
  const list = entries(input);
  await call.authorize({ action: 'greengrass:UpdateConnectivityInfo', resource: connectivityInfoArn(ctx.deployment(), name) });
  let record;
  try {
    record = await ctx.connectivity.update(name, list, ctx.clock());
  } catch (e) {
    if (e instanceof CaError && (e.code === 'CA_HOST_INVALID' || e.code === 'CA_HOST_HAS_PORT')) throw new AwsServiceError('ValidationException', e.message);
    throw e;
  }
  // The server certificate follows the new names before the caller hears back.
  await ctx.onConnectivityChanged();
  return { Version: String(record.version) };
}

export const CONNECTIVITY_OPERATIONS: readonly AwsOperation<Ctx>[] = [
  { name: 'GetConnectivityInfo', method: 'GET', path: '/greengrass/things/{thingName}/connectivityInfo', action: 'greengrass:GetConnectivityInfo', summary: 'The host addresses at which devices reach the broker', example: { path: '/greengrass/things/example-core/connectivityInfo' }, handler: getConnectivityInfo },
  { name: 'UpdateConnectivityInfo', method: 'PUT', path: '/greengrass/things/{thingName}/connectivityInfo', action: 'greengrass:UpdateConnectivityInfo', summary: 'Replaces the host addresses; the server certificate follows', example: { path: '/greengrass/things/example-core/connectivityInfo', body: { ConnectivityInfo: [{ Id: 'lan', HostAddress: '192.0.2.10', PortNumber: 8883 }] } }, handler: updateConnectivityInfo },
];
