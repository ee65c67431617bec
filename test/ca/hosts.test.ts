import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaError } from '../../src/ca/errors.js';
import { buildSanList, classifyHost, detectInterfaceAddresses, sameSanSet } from '../../src/ca/hosts.js';

test('IP addresses are classified as IP, IPv6 in any letter case, normalised', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['192.168.1.10', '192.168.1.10'],
    ['::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['FD00:0:0:0:0:0:0:ABCD', 'fd00::abcd'],
    ['[fd00::1]', 'fd00::1'],
    ['::FFFF:10.0.0.1', '::ffff:a00:1'],
    [' 10.0.0.1 ', '10.0.0.1'],
  ];
  for (const [input, value] of cases) assert.deepEqual(classifyHost(input), { type: 'ip', value }, input);
});

test('DNS names are classified as DNS, lower-cased, trailing dot removed, IDNs in punycode', () => {
  const cases: [string, string][] = [
    ['localhost', 'localhost'],
    ['Gateway.Local', 'gateway.local'],
    ['gw.example.com.', 'gw.example.com'],
    ['edge_1.lan', 'edge_1.lan'],
    ['*.devices.example.com', '*.devices.example.com'],
    ['münchen.de', 'xn--mnchen-3ya.de'],
    ['a-b', 'a-b'],
  ];
  for (const [input, value] of cases) assert.deepEqual(classifyHost(input), { type: 'dns', value }, input);
});

test('host:port forms are rejected with CA_HOST_HAS_PORT', () => {
  for (const input of ['127.0.0.1:8883', 'gw.local:8883', '[::1]:8883', '[fd00::1]:']) {
    assert.throws(() => classifyHost(input), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_HAS_PORT' && e.fix !== undefined, input);
  }
});

test('invalid hosts are rejected with CA_HOST_INVALID', () => {
  for (const input of ['', '   ', '01.2.3.4', '1.2.3', '256.1.1.1', 'fe80::1%eth0', '[fe80::1%eth0]', '2001:db8::1::2', 'a..b', '-a.com', 'a-.com',
    'mqtts://gw.local', 'gw.local/path', '10.0.0.0/8', 'user@host', 'a'.repeat(64) + '.com', 'x.123', '*.com', 'foo.*.com']) {
    assert.throws(() => classifyHost(input), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_INVALID', JSON.stringify(input));
  }
});

test('buildSanList: configured, then detected, then localhost; de-duplicated after normalisation', () => {
  const list = buildSanList(['GW.local', '::1', '10.0.0.1'], ['10.0.0.1', '0:0:0:0:0:0:0:1', '192.0.2.7', 'not valid!']);
  assert.deepEqual(list, [
    { type: 'dns', value: 'gw.local' },
    { type: 'ip', value: '::1' },
    { type: 'ip', value: '10.0.0.1' },
    { type: 'ip', value: '192.0.2.7' },
    { type: 'dns', value: 'localhost' },
  ]);
  assert.deepEqual(buildSanList([]), [{ type: 'dns', value: 'localhost' }]);
  assert.deepEqual(buildSanList(['LOCALHOST']), [{ type: 'dns', value: 'localhost' }]);
  assert.throws(() => buildSanList(['ok.local', 'bad:1']), (e: unknown) => e instanceof CaError && e.code === 'CA_HOST_HAS_PORT');
});

test('sameSanSet ignores order only', () => {
  const a = buildSanList(['a.local', '10.0.0.1']);
  const b = buildSanList(['10.0.0.1', 'A.LOCAL']);
  assert.ok(sameSanSet(a, b));
  assert.ok(!sameSanSet(a, buildSanList(['a.local'])));
  // A DNS name that looks like nothing else never equals an IP of the same text.
  assert.ok(!sameSanSet([{ type: 'dns', value: 'x' }], [{ type: 'ip', value: 'x' }]));
});

test('detectInterfaceAddresses keeps IPv4 and IPv6 but skips link-local IPv6 with zone ids', () => {
  const addrs = detectInterfaceAddresses({
    lo: [
      { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' },
      { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 },
    ],
    eth0: [
      { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.0.2.2/24' },
      { address: 'fd00::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fd00::2/64', scopeid: 0 },
      { address: 'fe80::fc:ff:fe00:1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::fc:ff:fe00:1/64', scopeid: 4 },
      { address: 'FE80::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::2/64', scopeid: 0 },
    ],
  });
  assert.deepEqual(addrs, ['127.0.0.1', '::1', '192.0.2.2', 'fd00::2']);
  // The real machine's list classifies cleanly.
  for (const a of detectInterfaceAddresses()) assert.equal(classifyHost(a).type, 'ip', a);
});
