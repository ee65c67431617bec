import { GatehouseError, type RuleErrorCode } from '../errors.js';
import type { Clause, ClauseMode, Rule } from './ast.js';

/**
 * Parser for selection rules, following the reference grammar:
 *
 *   rule    := orExpr EOF
 *   orExpr  := andExpr ( "OR" andExpr )*
 *   andExpr := clause ( "AND" clause )*
 *   clause  := "thingName:" VALUE
 *   VALUE   := "*" | "*"? ( [A-Za-z0-9_-] | "\:" )+ "*"?
 *
 * Keywords are upper case. Blanks are space, tab, CR and (unlike the reference, whose
 * lexer rejects it) LF, so a YAML block scalar's trailing newline is harmless.
 * `\:` stands for a literal colon and matches one (the reference keeps the backslash
 * and so never matches; its documentation promises the colon).
 */

export class RuleSyntaxError extends GatehouseError<RuleErrorCode> {
  /** 1-based position in the rule text. */
  readonly line: number;
  readonly column: number;
  readonly offset: number;

  constructor(code: RuleErrorCode, message: string, source: string, offset: number, fix?: string) {
    const { line, column } = lineColumn(source, offset);
    super(code, message, fix);
    this.name = 'RuleSyntaxError';
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

type TokenKind = 'OR' | 'AND' | 'SELECTOR' | 'VALUE' | 'EOF';
interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly offset: number;
}

const SELECTOR = 'thingName:';

function isNameChar(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '-' || c === '_';
}
function isBlank(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

function lineColumn(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function describe(tok: Token): string {
  return tok.kind === 'EOF' ? 'the end of the rule' : `\`${tok.text}\``;
}

/**
 * Splits a rule into tokens, lazily: a character outside the grammar throws
 * RuleSyntaxError only when the parser asks for the token it starts, so errors are
 * reported in text order (like the reference's lexer) — `thingname: a` is an
 * unexpected token at column 1, not an invalid `:` at column 10.
 */
function* tokenize(source: string): Generator<Token, void, undefined> {
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (isBlank(c)) {
      i++;
      continue;
    }
    if (source.startsWith(SELECTOR, i)) {
      const offset = i;
      i += SELECTOR.length;
      yield { kind: 'SELECTOR', text: SELECTOR, offset };
      continue;
    }
    // A value: optional leading `*`, name characters or `\:`, optional trailing `*`.
    const start = i;
    let j = i;
    if (source[j] === '*') j++;
    let body = 0;
    for (;;) {
      const d = source[j];
      if (d !== undefined && isNameChar(d)) {
        j++;
        body++;
      } else if (d === '\\' && source[j + 1] === ':') {
        j += 2;
        body++;
      } else break;
    }
    if (body > 0 && source[j] === '*') j++;
    if (j === start) {
      throw invalidCharacter(source, i);
    }
    const text = source.slice(start, j);
    if (text === '*' && source[j] === '*') {
      throw new RuleSyntaxError('RULE_INVALID_WILDCARD', '`**` is not a valid value', source, start,
        'use a single `*` to select every thing');
    }
    // `a*b`, `*a*b`, `a**`: a wildcard in the middle of a value.
    const next = source[j];
    if (text.endsWith('*') && next !== undefined && (isNameChar(next) || next === '*')) {
      throw new RuleSyntaxError('RULE_INVALID_WILDCARD',
        `\`*\` may only begin or end a value, found \`${readWord(source, start)}\``, source, start,
        'use `*` only at the start and/or end of a value, e.g. `thingName: sensor*`');
    }
    const kind: TokenKind = text === 'OR' ? 'OR' : text === 'AND' ? 'AND' : 'VALUE';
    i = j;
    yield { kind, text, offset: start };
  }
  yield { kind: 'EOF', text: '', offset: source.length };
}

function readWord(source: string, start: number): string {
  let j = start;
  while (j < source.length && !isBlank(source[j]!)) j++;
  return source.slice(start, j);
}

function invalidCharacter(source: string, offset: number): RuleSyntaxError {
  const c = source[offset]!;
  if (c === ':') {
    return new RuleSyntaxError('RULE_INVALID_CHARACTER', 'unexpected `:`', source, offset,
      'write a colon inside a thing name as `\\:` (in JSON: `\\\\:`); write the selector as `thingName:` with no space before the colon');
  }
  const shown = c === '\n' ? 'a line break' : JSON.stringify(c);
  return new RuleSyntaxError('RULE_INVALID_CHARACTER', `unexpected character ${shown}`, source, offset,
    'values may contain letters, digits, `-`, `_` and `\\:`, with `*` at the start or end; combine clauses with `AND` / `OR` (no parentheses)');
}

export function parseRule(source: string): Rule {
  const lexer = tokenize(source);
  const advance = (): Token => lexer.next().value ?? { kind: 'EOF', text: '', offset: source.length };
  let current = advance();
  const peek = (): Token => current;
  const consume = (): void => {
    current = advance();
  };

  if (peek().kind === 'EOF') {
    throw new RuleSyntaxError('RULE_EMPTY', 'the selection rule is empty', source, 0,
      'write at least one clause, e.g. `thingName: *` to select every thing');
  }

  const clause = (): Clause => {
    const sel = peek();
    if (sel.kind !== 'SELECTOR') {
      let fix = 'each clause has the form `thingName: VALUE`';
      if (sel.kind === 'VALUE' && sel.text.toLowerCase() === 'thingname') fix = 'write the selector as `thingName:` (case-sensitive, no space before the colon)';
      throw new RuleSyntaxError('RULE_UNEXPECTED_TOKEN', `expected \`thingName:\`, found ${describe(sel)}`, source, sel.offset, fix);
    }
    consume();
    const val = peek();
    if (val.kind !== 'VALUE') {
      throw new RuleSyntaxError('RULE_UNEXPECTED_TOKEN', `expected a thing name or pattern after \`thingName:\`, found ${describe(val)}`,
        source, val.offset, val.kind === 'EOF' ? 'add a value, e.g. `thingName: sensor*`' : '`AND` and `OR` cannot be used as thing names');
    }
    consume();
    return makeClause(val.text);
  };

  const terms: Clause[][] = [];
  let term: Clause[] = [clause()];
  for (;;) {
    const t = peek();
    if (t.kind === 'AND') {
      consume();
      term.push(clause());
    } else if (t.kind === 'OR') {
      consume();
      terms.push(term);
      term = [clause()];
    } else if (t.kind === 'EOF') {
      terms.push(term);
      break;
    } else {
      const upper = t.text.toUpperCase();
      const fix = upper === 'AND' || upper === 'OR'
        ? `keywords are upper case: did you mean \`${upper}\`?`
        : 'join clauses with `AND` or `OR`';
      throw new RuleSyntaxError('RULE_UNEXPECTED_TOKEN', `expected \`AND\`, \`OR\` or the end of the rule, found ${describe(t)}`, source, t.offset, fix);
    }
  }
  return { terms, source };
}

function makeClause(text: string): Clause {
  if (text === '*') return { attribute: 'thingName', mode: 'any', value: '', source: text };
  const lead = text.startsWith('*');
  const trail = text.length > 1 && text.endsWith('*');
  const body = text.slice(lead ? 1 : 0, trail ? -1 : undefined).replaceAll('\\:', ':');
  const mode: ClauseMode = lead && trail ? 'contains' : lead ? 'suffix' : trail ? 'prefix' : 'exact';
  return { attribute: 'thingName', mode, value: body, source: text };
}
