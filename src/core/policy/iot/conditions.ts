/**
 * Condition blocks of AWS IoT Core policy documents (IAM condition operators).
 * First cut: the agreed signature; every operator is reported as unsupported.
 */
import type { IotPolicyProblem } from './context.js';

export interface CompiledCondition {
  test(lookup: (key: string) => readonly string[] | undefined, substitute: (text: string) => string | undefined, now: number): boolean;
}

export function compileCondition(block: unknown, path: string, variablesAllowed: boolean, problems: IotPolicyProblem[]): CompiledCondition | undefined {
  void variablesAllowed;
  if (block === undefined || (typeof block === 'object' && block !== null && !Array.isArray(block) && Object.keys(block).length === 0)) {
    return { test: () => true };
  }
  problems.push({ code: 'IOT_CONDITION_UNKNOWN_OPERATOR', path, message: 'condition operators are not supported yet', fix: 'remove the Condition element' });
  return undefined;
}
