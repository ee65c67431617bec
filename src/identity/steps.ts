/**
 * Storage logic written once for both registry backends: a generator that yields the
 * operations it needs (a query, a statement), receives each answer, and returns its
 * result. SQLite answers synchronously inside one transaction, PostgreSQL asynchronously
 * on one client; the logic cannot tell them apart. The jobs store (job-store.ts) and the
 * AWS IoT sync (sync-apply.ts) are written this way.
 */

/** A piece of storage logic yielding operations `Q` and returning `T`. */
export type Step<Q, T> = Generator<Q, T, unknown>;

/** How a step is resumed: with the operation's answer, or with the error it threw. */
export type Resume = { readonly threw: false; readonly value: unknown } | { readonly threw: true; readonly error: unknown };

/** The first resumption (nothing answered yet). */
export const START: Resume = { threw: false, value: undefined };

/** Resumes `step` as `resume` says. */
export function resume<Q, T>(step: Step<Q, T>, r: Resume): IteratorResult<Q, T> {
  return r.threw ? step.throw(r.error) : step.next(r.value);
}

/**
 * Runs a step to its end, answering each operation synchronously. An answer that throws
 * is thrown into the step at its `yield`, so its `try`/`finally` blocks run, and leaves
 * it unless the step catches it.
 */
export function drive<Q, T>(step: Step<Q, T>, answer: (op: Q) => unknown): T {
  let r: Resume = START;
  for (;;) {
    const it = resume(step, r);
    if (it.done === true) return it.value;
    try {
      r = { threw: false, value: answer(it.value) };
    } catch (e) {
      r = { threw: true, error: e };
    }
  }
}

/** `drive`, awaiting each answer. */
export async function driveAsync<Q, T>(step: Step<Q, T>, answer: (op: Q) => Promise<unknown>): Promise<T> {
  let r: Resume = START;
  for (;;) {
    const it = resume(step, r);
    if (it.done === true) return it.value;
    try {
      r = { threw: false, value: await answer(it.value) };
    } catch (e) {
      r = { threw: true, error: e };
    }
  }
}
