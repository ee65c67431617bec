import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closest, didYouMean } from '../../../src/core/config/suggest.js';

describe('closest / didYouMean', () => {
  const keys = ['selectionRule', 'policyName', 'operations', 'resources'];

  it('prefers a case-insensitive exact match', () => {
    assert.equal(closest('POLICYNAME', keys), 'policyName');
  });

  it('suggests a near miss within about a third of the length', () => {
    assert.equal(closest('polcyName', keys), 'policyName');
    assert.equal(closest('resource', keys), 'resources');
    assert.equal(closest('operation', keys), 'operations');
    assert.equal(didYouMean('selectionRul', keys), 'did you mean `selectionRule`?');
  });

  it('suggests nothing when nothing is close', () => {
    assert.equal(closest('conditions', keys), undefined);
    assert.equal(closest('x', keys), undefined);
    assert.equal(closest('anything', []), undefined);
    assert.equal(didYouMean('zzzzzz', keys), undefined);
  });

  it('allows one edit for short words', () => {
    assert.equal(closest('ab', ['ac', 'xyz']), 'ac');
    assert.equal(closest('ab', ['cd']), undefined);
  });
});
