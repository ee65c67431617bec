/**
 * The port through which the management API's front accepts a browser session (the
 * operator console's, docs/console.md) in place of a signature: the console owns the
 * sessions; the front asks it whether a cookie names one, and then treats the request
 * exactly as a signed request of the session's user: the same IAM authorization of
 * every action by the handlers, the same audit records.
 *
 * Rules the front applies (server.ts, onRequest):
 * - only on `signed` routes, and only when the request has no `Authorization` header;
 * - a method other than GET and HEAD needs the session's CSRF token in `x-csrf-token`;
 * - the session's access key is resolved again on every request: a key deactivated or
 *   deleted, or a user deleted, ends the session at once.
 */

export type BrowserSessionCheck =
  | { readonly ok: true; readonly sessionId: string; readonly accessKeyId: string }
  | { readonly ok: false; readonly failure: 'CONSOLE_SESSION_INVALID' | 'CONSOLE_CSRF_MISMATCH' };

export interface BrowserSessionPort {
  /** The cookie that carries the session's token. */
  readonly cookieName: string;
  /**
   * Whether `token` names a live session and, for a state-changing request, `csrfToken`
   * is its CSRF token. `touch`: the request is the operator's (it extends the idle
   * timeout); the console's background refreshes do not.
   */
  check(token: string, csrfToken: string | undefined, options: { readonly stateChanging: boolean; readonly touch: boolean; readonly now: number }): BrowserSessionCheck;
  /** Ends a session (its key no longer resolves). */
  end(sessionId: string): void;
}

/** The header that marks a console request as a background refresh (it does not extend the idle timeout). */
export const BACKGROUND_HEADER = 'x-gatehouse-background';
/** The header carrying the CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';
/**
 * The header a request without a signature names its service with, where routes share a
 * method and path (the query protocol's `POST /` serves STS and IAM): it picks the route
 * as a signature's credential scope would, and authorizes nothing.
 */
export const SERVICE_HEADER = 'x-gatehouse-service';
