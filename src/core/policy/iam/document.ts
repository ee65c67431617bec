/**
 * IAM identity-policy documents: the shared parser (`../iot/document.ts`) with the IAM
 * dialect, and the problem codes it reports. The codes are the IoT ones under the
 * `IAM_` prefix, with the same meaning, plus those of IAM's own grammar rules.
 */
import { IOT_CONDITION_CODES } from '../iot/conditions.js';
import { IOT_POLICY_CODES, IOT_POLICY_WARNING_CODES, parsePolicyDocument, type ParseResult } from '../iot/document.js';
import { IAM_DIALECT } from './dialect.js';

type Renamed<C extends string> = C extends `IOT_${infer R}` ? `IAM_${R}` : never;

function renamed<C extends string>(codes: readonly C[]): Renamed<C>[] {
  return codes.map((c) => `IAM_${c.slice(4)}` as Renamed<C>);
}

/** Every problem code an IAM policy document can produce (documented in docs/errors.md). */
export const IAM_POLICY_CODES = Object.freeze([
  // An identity policy never has `Id`, so IAM_POLICY_ID_NOT_ALLOWED replaces IAM_POLICY_ID_INVALID.
  ...renamed(IOT_POLICY_CODES.filter((c) => c !== 'IOT_POLICY_ID_INVALID')),
  'IAM_POLICY_ID_NOT_ALLOWED',
  'IAM_POLICY_SID_DUPLICATE',
  'IAM_POLICY_CHARACTER_INVALID',
] as const);

/** Warning codes: reported, but the document still loads. */
export const IAM_POLICY_WARNING_CODES = Object.freeze(renamed(IOT_POLICY_WARNING_CODES));

/** Problem codes of `Condition` blocks. */
export const IAM_CONDITION_CODES = Object.freeze(renamed(IOT_CONDITION_CODES));

export type IamPolicyCode = (typeof IAM_POLICY_CODES)[number] | (typeof IAM_POLICY_WARNING_CODES)[number] | (typeof IAM_CONDITION_CODES)[number];

/** Parses one IAM identity-policy document, given as JSON text or as a parsed value. */
export function parseIamPolicyDocument(input: unknown): ParseResult {
  return parsePolicyDocument(input, IAM_DIALECT);
}
