/**
 * The one GitHub API client factory. Every request goes through a retry policy shaped by GitHub's REST
 * guidance (threats.md I7):
 *   - 5xx and network failures: retried with back-off (1 s, 2 s, 4 s);
 *   - 403/429 with `retry-after`: a secondary rate limit; wait that long, then retry;
 *     403/429 with `x-ratelimit-remaining: 0`: wait until `x-ratelimit-reset`;
 *   - 400, 401, 404, 410, 422, 451 and a plain 403 (a permission problem, e.g. a fork's read-only
 *     token): never retried.
 * A wait longer than `maxWaitSeconds` is not worth holding a runner for: the error is raised instead.
 * Lists are always read with `octokit.paginate` (100 per page) by the callers.
 *
 * Every attempt has a deadline (`timeoutMs`, 60 s): a server that accepts and never answers is a
 * network failure like a reset, retried, never a job that hangs until the runner's 6-hour limit. A
 * success whose JSON body was cut short (octokit then hands back the partial text, not an object) is
 * retried the same way, never passed on as data (docs/threat-model.md).
 */
import { getOctokit } from '@actions/github';

export type GitHubClient = ReturnType<typeof getOctokit>;

export interface ClientOptions {
  token: string;
  /** GITHUB_API_URL (GitHub Enterprise Server, or a test server). */
  baseUrl: string;
  retries?: number;
  maxWaitSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  log?: (line: string) => void;
  /** Per-attempt deadline in ms (default 60 000). */
  timeoutMs?: number;
  /** The first back-off in ms, doubled on each retry (default 1 000). */
  backoffMs?: number;
  /**
   * An absolute deadline (in `now()` milliseconds) for every request, retries included: an attempt
   * never runs past it, and a retry whose wait would end after it is not made (the error is raised).
   * Used where the runner gives the process a fixed time (a cancelled job: SIGTERM 7.5 s after SIGINT).
   */
  deadline?: number;
}

interface ErrorLike {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

const NO_RETRY = new Set([400, 401, 404, 410, 422, 451]);

/** Seconds to wait before retry number `attempt` (0-based), or null when the error is final. */
export function retryDelay(err: unknown, attempt: number, opts: { retries: number; maxWaitSeconds: number; now: number }): number | null {
  if (attempt >= opts.retries) return null;
  const e = (err ?? {}) as ErrorLike;
  const status = typeof e.status === 'number' ? e.status : undefined;
  const headers = e.response?.headers ?? {};
  const header = (name: string): string | undefined => {
    const v = headers[name];
    return v === undefined ? undefined : String(v);
  };
  const capped = (s: number): number | null => (s > opts.maxWaitSeconds ? null : Math.max(0, s));
  if (status === undefined) return capped(2 ** attempt); // no HTTP response: a network failure
  if (NO_RETRY.has(status)) return null;
  if (status === 403 || status === 429) {
    const retryAfter = header('retry-after');
    if (retryAfter !== undefined && /^\d+$/.test(retryAfter.trim())) return capped(Number(retryAfter));
    if (header('x-ratelimit-remaining') === '0') {
      const reset = Number(header('x-ratelimit-reset'));
      if (Number.isFinite(reset)) return capped(Math.ceil(reset - opts.now / 1000) + 1);
    }
    const message = `${e.message ?? ''} ${JSON.stringify(e.response?.data ?? '')}`;
    if (/secondary rate limit/i.test(message)) return capped(60);
    return status === 429 ? capped(2 ** attempt) : null;
  }
  if (status >= 500) return capped(2 ** attempt);
  return null;
}

export function createGitHub(opts: ClientOptions): GitHubClient {
  const octokit = getOctokit(opts.token, { baseUrl: opts.baseUrl });
  const retries = opts.retries ?? 3;
  const maxWaitSeconds = opts.maxWaitSeconds ?? 120;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const backoff = (opts.backoffMs ?? 1000) / 1000;
  octokit.hook.wrap('request', async (request, options) => {
    const callerSignal = options.request?.signal as AbortSignal | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const left = opts.deadline === undefined ? timeoutMs : Math.min(timeoutMs, opts.deadline - now());
        if (left <= 0) throw new Error('no time left for the request');
        const deadline = AbortSignal.timeout(left);
        // Set on `options` itself: the hook chain hands every layer the options it was first called with.
        options.request = { ...options.request, signal: callerSignal ? AbortSignal.any([callerSignal, deadline]) : deadline };
        const response = await request(options);
        const type = String(response.headers?.['content-type'] ?? '');
        if (typeof response.data === 'string' && /json/i.test(type)) {
          // No HTTP status on it: retried as a network failure.
          throw new Error(`the response body was cut short (${response.data.length} bytes of unreadable JSON)`);
        }
        return response;
      } catch (err) {
        const delay = retryDelay(err, attempt, { retries, maxWaitSeconds, now: now() });
        // A back-off (not a server-given wait) scales with backoffMs.
        const wait = delay === null ? null : isBackoff(err, delay, attempt) ? delay * backoff : delay;
        if (wait === null || (opts.deadline !== undefined && now() + wait * 1000 >= opts.deadline)) throw err;
        const status = (err as ErrorLike).status ?? 'network error';
        opts.log?.(`GitHub API ${options.method} ${String(options.url)}: ${status}; retry ${attempt + 1}/${retries} in ${wait} s`);
        await sleep(wait * 1000);
      }
    }
  });
  return octokit;
}

/**
 * Runs `attempt` under the same retry policy as every API request (retryDelay), for requests made by
 * another library's own client (@actions/artifact's download redirect): an error with an HTTP status
 * is judged by it (5xx retried, 429/403 with retry-after waited out, 404 final), one without is a
 * network failure — unless `retryable` says it is final.
 */
export async function withRetries<T>(
  what: string,
  attempt: (n: number) => Promise<T>,
  opts: {
    retries?: number;
    maxWaitSeconds?: number;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
    log?: (line: string) => void;
    retryable?: (err: unknown) => boolean;
  } = {},
): Promise<T> {
  const retries = opts.retries ?? 3;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const wait = opts.retryable && !opts.retryable(err) ? null : retryDelay(err, n, { retries, maxWaitSeconds: opts.maxWaitSeconds ?? 120, now: (opts.now ?? Date.now)() });
      if (wait === null) throw err;
      opts.log?.(`${what}: ${(err as ErrorLike).status ?? 'network error'}; retry ${n + 1}/${retries} in ${wait} s`);
      await sleep(wait * 1000);
    }
  }
}

/** Whether `delay` is the exponential back-off for `attempt` rather than a wait the server asked for. */
function isBackoff(err: unknown, delay: number, attempt: number): boolean {
  const e = (err ?? {}) as ErrorLike;
  const headers = e.response?.headers ?? {};
  if (headers['retry-after'] !== undefined || headers['x-ratelimit-remaining'] === '0') return false;
  return delay === 2 ** attempt;
}

/** The HTTP status of an API error, if it has one. */
export function httpStatus(err: unknown): number | undefined {
  const s = (err as ErrorLike | null)?.status;
  return typeof s === 'number' ? s : undefined;
}

/**
 * A 403 that means "this token may not do that": a fork's read-only GITHUB_TOKEN, or a workflow
 * without `checks: write` / `pull-requests: write`. Not an outage: the run goes on without it.
 */
export function isPermissionDenied(err: unknown): boolean {
  return httpStatus(err) === 403;
}
