/**
 * Selection-rule syntax tree.
 *
 * A rule is a disjunction of conjunctions of clauses (AND binds tighter than OR and
 * there are no parentheses), so the parser produces this normal form directly.
 */

/** How a clause value is compared with a thing name. */
export type ClauseMode =
  | 'any' // `*`
  | 'exact' // `abc`
  | 'prefix' // `abc*`
  | 'suffix' // `*abc`
  | 'contains'; // `*abc*`

export interface Clause {
  readonly attribute: 'thingName';
  readonly mode: ClauseMode;
  /** The value without its wildcards and with `\:` turned into `:`. Empty for `any`. */
  readonly value: string;
  /** The value as written, for messages. */
  readonly source: string;
}

export interface Rule {
  /** OR of terms; each term is an AND of clauses. Never empty. */
  readonly terms: readonly (readonly Clause[])[];
  readonly source: string;
}
