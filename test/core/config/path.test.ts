import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatPath } from '../../../src/core/config/path.js';

describe('formatPath', () => {
  it('joins identifiers with dots and indexes with brackets', () => {
    assert.equal(formatPath([]), '');
    assert.equal(formatPath(['deviceGroups', 'policies', 'P', 'S', 'resources', 1]), 'deviceGroups.policies.P.S.resources[1]');
    assert.equal(formatPath(['ca_type', 0]), 'ca_type[0]');
    assert.equal(formatPath(['a', '$b', '_c', 'd-e']), 'a.$b._c.d-e');
  });

  it('quotes names that are not identifiers', () => {
    assert.equal(formatPath(['deviceGroups', 'policies', 'my policy', 'S']), 'deviceGroups.policies["my policy"].S');
    assert.equal(formatPath(['a', '1x', 'b.c', '', 'é']), 'a["1x"]["b.c"][""]["é"]');
    assert.equal(formatPath(['x', 'quote"and\\']), 'x["quote\\"and\\\\"]');
    assert.equal(formatPath(['-lead']), '["-lead"]');
  });
});
