/**
 * The decision latency histogram is kept outside prom-client's Histogram (which costs
 * as much per observation as the decision): its exposition must stay exactly what
 * prom-client's Histogram prints for the same observations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { Prometheus } from '../../src/api/prometheus.js';
import { Metrics } from '../../src/observability/metrics.js';

const BUCKETS = [0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025];

function section(text: string, name: string): string {
  const found = text.split('\n\n').find((s) => s.includes(`# TYPE ${name} `));
  assert.ok(found, `${name} is exposed`);
  return found.trim();
}

test('gatehouse_decision_duration_seconds prints as prom-client\'s Histogram would, per operation', async () => {
  const reference = new Registry();
  const histogram = new Histogram({
    name: 'gatehouse_decision_duration_seconds', help: 'Time for an API authorization decision (session or thing lookup and policy decision)',
    registers: [reference], labelNames: ['operation'], buckets: BUCKETS,
  });
  const prometheus = new Prometheus({
    metrics: new Metrics(), liveSessions: () => 0, connectedClients: () => 0, certificateStreams: () => 0,
    limiter: () => ({ running: 0, waiting: 0, maxRunning: 1, maxWaiting: 1, rejected: 0 }),
  });
  // Before any observation: a HELP and TYPE line and no series, in both.
  assert.equal(section(await prometheus.text(), 'gatehouse_decision_duration_seconds'), (await reference.metrics()).trim());
  const observations: [string, number][] = [
    ['mqtt:publish', 0.0000004], ['mqtt:publish', 0.000001], ['mqtt:publish', 0.0000011], ['mqtt:publish', 0.03],
    ['mqtt:subscribe', 0.00007], ['mqtt:connect', 0.0025], ['mqtt:delete', 0.0004], ['', 0.000002],
  ];
  for (const [operation, seconds] of observations) {
    const known = operation === 'mqtt:connect' || operation === 'mqtt:publish' || operation === 'mqtt:subscribe';
    histogram.observe({ operation: known ? operation : 'other' }, seconds);
    prometheus.observeDecision(operation, seconds);
  }
  const ours = section(await prometheus.text(), 'gatehouse_decision_duration_seconds');
  assert.match(ours, /gatehouse_decision_duration_seconds_bucket\{le="\+Inf",operation="mqtt:publish"\} 4/);
  assert.equal(ours, (await reference.metrics()).trim());
});
