/**
 * `npm run bench:iot`: compile time and decisions per second of the AWS IoT Core policy
 * engine (src/core/policy/iot).
 *
 *   node dist/bench/iot.js [--quick]
 *
 * Cases:
 *   compile   10,000 named four-statement policies (variables, wildcards, a Deny each),
 *             given as JSON text, compiled into one set; CPU time includes JSON parsing
 *             and validation. Target: well under a second.
 *   decide    a connection with two policies in force deciding a mix of four requests
 *             (allowed by a literal prefix, allowed through `${iot:ClientId}`, Connect
 *             through a thing-name variable, and an implicit deny).
 * Figures are CPU-time rates (decisions per CPU-second), medians over rounds; the wall
 * rates are printed too because the machine may be shared.
 */
import { compileIotPolicies, type IotContext, type IotPolicyInput, type IotRequest } from '../src/core/index.js';
import { fmtRate, throughput, timeMs } from './harness.js';

const DEPLOYMENT = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
const ARN = 'arn:aws:iot:us-east-1:123456789012';

function fleet(n: number): IotPolicyInput[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `fleet-${i}`,
    document: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
        { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${ARN}:topic/fleet/${i}/*`, `${ARN}:topic/dev/\${iot:ClientId}/*`] },
        { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/fleet/${i}/*` },
        { Effect: 'Deny', Action: 'iot:*', Resource: `${ARN}:topic/fleet/${i}/admin` },
      ],
    }),
  }));
}

const quick = process.argv.includes('--quick');
const opts = quick ? { warmupMs: 200, roundMs: 200, rounds: 3 } : { warmupMs: 1000, roundMs: 1000, rounds: 5 };

const inputs = fleet(10_000);
for (let i = 0; i < (quick ? 2 : 4); i++) {
  const [r, wall, cpu] = timeMs(() => compileIotPolicies(inputs, DEPLOYMENT));
  if (!r.ok) throw new Error('the benchmark fleet does not compile');
  console.log(`compile 10,000 policies: ${cpu.toFixed(0)} ms CPU, ${wall.toFixed(0)} ms wall${i === 0 ? ' (cold)' : ''}`);
}

const compiled = compileIotPolicies(inputs, DEPLOYMENT);
if (!compiled.ok) throw new Error('the benchmark fleet does not compile');
const set = compiled.set;
const ctx: IotContext = { clientId: 'dev1', thingName: 'dev1' };
const names = ['fleet-1', 'fleet-2'];
const requests: IotRequest[] = [
  { action: 'iot:Publish', resource: `${ARN}:topic/fleet/1/telemetry` },
  { action: 'iot:Receive', resource: `${ARN}:topic/dev/dev1/cmd` },
  { action: 'iot:Connect', resource: `${ARN}:client/dev1` },
  { action: 'iot:Publish', resource: `${ARN}:topic/other` },
];
const PASS = 1000;
const pass = (): number => {
  let allowed = 0;
  for (let i = 0; i < PASS; i++) if (set.decide(names, ctx, requests[i & 3]!, 0).allowed) allowed++;
  return allowed;
};
const t = throughput(pass, PASS, PASS * 3 / 4, opts);
console.log(`decide (2 policies in force, 4-request mix): ${fmtRate(t.cpu.median)} in CPU time (${(1e9 / t.cpu.median).toFixed(0)} ns each), ${fmtRate(t.wall.median)} in wall time`);
