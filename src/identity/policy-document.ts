/**
 * The checks every stored IoT policy document passes, whatever the engine adds: the AWS
 * IoT size limit (2048 characters not counting whitespace, see
 * https://docs.aws.amazon.com/iot/latest/apireference/API_CreatePolicy.html) and that
 * the text is one JSON object. The grammar itself is the policy engine's job.
 */
import type { PolicyDocumentProblem } from './errors.js';

export const POLICY_DOCUMENT_MAX = 2048;

/** Codes of the problems found here (documented in docs/identity.md). */
export const POLICY_DOCUMENT_CODES = ['POLICY_DOCUMENT_TOO_LARGE', 'POLICY_DOCUMENT_NOT_JSON', 'POLICY_DOCUMENT_NOT_AN_OBJECT'] as const;

/** Problems of `text` as a stored policy document; empty when it may be stored. */
export function basicPolicyDocumentProblems(text: string): PolicyDocumentProblem[] {
  const size = text.replace(/\s/g, '').length;
  if (size > POLICY_DOCUMENT_MAX) {
    return [{ code: 'POLICY_DOCUMENT_TOO_LARGE', path: '$', message: `the document has ${size} characters not counting whitespace; AWS IoT allows ${POLICY_DOCUMENT_MAX}`, fix: 'split the statements over several policies and attach them all' }];
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return [{ code: 'POLICY_DOCUMENT_NOT_JSON', path: '$', message: `the document is not JSON: ${(e as Error).message}`, fix: 'check the file with a JSON validator (for example `jq . FILE`)' }];
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ code: 'POLICY_DOCUMENT_NOT_AN_OBJECT', path: '$', message: 'a policy document is a JSON object with `Version` and `Statement`', fix: 'wrap the statements in {"Version": "2012-10-17", "Statement": [...]}' }];
  }
  return [];
}
