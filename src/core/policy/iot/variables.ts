/**
 * Policy variables in policy text: `${name}` is replaced by the request's value, and
 * `${*}`, `${?}`, `${$}` stand for a literal `*`, `?`, `$`
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html).
 * Variables exist only in documents with `"Version": "2012-10-17"`; in any other
 * document `${…}` is ordinary text.
 *
 * Substitution is a single pass and its result is literal: a `*` in a client ID never
 * acts as a wildcard, and a value containing `${…}` is not expanded again.
 */

export type TemplatePart =
  /** Policy text, where `*` and `?` are wildcards. */
  | { readonly kind: 'text'; readonly text: string }
  /** A literal character from an escape (`${*}`). */
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'variable'; readonly name: string; readonly offset: number };

export type ParsedTemplate = { readonly ok: true; readonly parts: readonly TemplatePart[] } | { readonly ok: false; readonly reason: string };

const ESCAPES: Readonly<Record<string, string>> = { '*': '*', '?': '?', $: '$' };

/** Splits policy text into text, escapes and variables. */
export function parseTemplate(text: string, variablesAllowed: boolean): ParsedTemplate {
  if (!variablesAllowed || !text.includes('${')) return { ok: true, parts: text === '' ? [] : [{ kind: 'text', text }] };
  const parts: TemplatePart[] = [];
  let i = 0;
  let textStart = 0;
  while (i < text.length) {
    const open = text.indexOf('${', i);
    if (open < 0) break;
    const close = text.indexOf('}', open + 2);
    if (close < 0) return { ok: false, reason: `\`\${\` at offset ${open} has no closing \`}\`` };
    const name = text.slice(open + 2, close);
    if (name === '') return { ok: false, reason: `\`\${}\` at offset ${open} names no variable` };
    if (open > textStart) parts.push({ kind: 'text', text: text.slice(textStart, open) });
    const escape = ESCAPES[name];
    parts.push(escape !== undefined ? { kind: 'literal', text: escape } : { kind: 'variable', name, offset: open });
    i = textStart = close + 1;
  }
  if (textStart < text.length) parts.push({ kind: 'text', text: text.slice(textStart) });
  return { ok: true, parts };
}

/** Substitutes a parsed template as plain text; undefined when a variable is unresolved. */
export function substituteParts(parts: readonly TemplatePart[], resolve: (name: string) => string | undefined): string | undefined {
  let out = '';
  for (const p of parts) {
    if (p.kind === 'variable') {
      const v = resolve(p.name);
      if (v === undefined) return undefined;
      out += v;
    } else {
      out += p.text;
    }
  }
  return out;
}
