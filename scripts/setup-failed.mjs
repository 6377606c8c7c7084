// Reports a failed setup of the Action (action.yml's "Report a failed setup" step, `if: failure()`):
// when Node.js could not be set up, the ONNX Runtime version could not be read, or its install failed
// (the npm registry unreachable on a cache miss, GitHub Enterprise Server without registry access, an
// offline self-hosted runner), the Validate step is skipped and nothing else would post the
// `policy-gate` check run a required check waits for. This posts it completed, conclusion failure,
// saying which step failed and npm's last error lines; writes the job summary; and sets the
// `conclusion` output. A shard job posts no check run (the merge job reports), only the summary.
//
// It runs before (or without) the runtime install, so it uses Node.js built-ins and fetch only, and
// works on Node.js 18 and later. Every secret form of the token and of secret-looking variables is
// redacted from what it writes (docs/threat-model.md), and requests follow the Action's retry policy:
// 5xx and network failures retried after 1, 2 and 4 s; 403/429 with retry-after (or an exhausted rate
// limit) waited out up to 120 s; other errors final. It exits 0: the step that failed already fails
// the job.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

const env = process.env;
const CHECK_NAME = 'policy-gate';
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_KEY$/i;
const MIN_FRAGMENT = 8;
const MAX_WAIT_S = 120;
const RETRIES = 3;

/** The encoded forms of a secret (plain, URL-encoded, base64 at three alignments), as src/util/redact.ts. */
function secretForms(secret) {
  const forms = new Set([secret, encodeURIComponent(secret)]);
  const bytes = Buffer.from(secret, 'utf8');
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    if (shift === 0) {
      forms.add(b64);
      forms.add(b64.replace(/=+$/, ''));
    }
    const head = shift === 0 ? 0 : 4;
    const full = (shift + bytes.length) % 3 === 0;
    const core = b64.replace(/=+$/, '').slice(head, full ? undefined : Math.floor((shift + bytes.length) / 3) * 4);
    if (core.length >= MIN_FRAGMENT) forms.add(core);
  }
  for (const f of [...forms]) {
    const url = f.replace(/\+/g, '-').replace(/\//g, '_');
    if (url !== f) forms.add(url);
    const enc = encodeURIComponent(f);
    if (enc !== f) forms.add(enc);
  }
  return [...forms].filter((f) => f.length > 0);
}

const secrets = new Set();
for (const name of ['INPUT_GITHUB_TOKEN', 'GITHUB_TOKEN', 'APCA_API_KEY_ID', 'APCA_API_SECRET_KEY']) if (env[name]?.trim()) secrets.add(env[name].trim());
for (const [name, value] of Object.entries(env)) if (value && value.trim().length >= 8 && SECRET_NAME.test(name)) secrets.add(value.trim());
const forms = [...secrets].flatMap(secretForms).sort((a, b) => b.length - a.length);

function redact(text) {
  let out = String(text);
  for (const f of forms) out = out.split(f).join('[REDACTED]');
  return out;
}

/** A line the runner could read as a workflow command (`::name::`, `##[name]`) is made inert. */
function inert(line) {
  return line.replace(/::/g, ':\u200b:').replace(/##\[/g, '#\u200b#[');
}

function log(line) {
  process.stdout.write(`${inert(redact(line))}\n`);
}

/** The step that failed, by action.yml's order. */
const STEPS = [
  ['STEP_SETUP_NODE', 'Set up Node.js'],
  ['STEP_ORT', 'Resolve the ONNX Runtime version'],
  ['STEP_CACHE', 'Restore the ONNX Runtime from the cache'],
  ['STEP_INSTALL', 'Install the ONNX Runtime'],
];
const failed = STEPS.filter(([v]) => env[v] === 'failure').map(([, name]) => name);
const failedStep = failed[0] ?? 'an earlier step';

/** npm's last error lines (`npm error …`, `npm ERR! …`), else the log's last lines. */
function installLogTail() {
  const file = env['SETUP_LOG'];
  if (!file || !existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l !== '');
  const errors = lines.filter((l) => /^npm (error|ERR!)/.test(l));
  return (errors.length ? errors : lines).slice(-20).map((l) => redact(l).slice(0, 500));
}

const tail = installLogTail();
const firstError = tail.find((l) => /^npm (error|ERR!) (code|errno) /.test(l)) ?? tail.find((l) => /^npm (error|ERR!)/.test(l)) ?? tail[tail.length - 1];
const why = firstError ? firstError.replace(/^npm (error|ERR!) /, 'npm: ') : 'see the job log';
const title = redact(`setup failed: ${failedStep} — ${why}`).replace(/\s+/g, ' ').slice(0, 240);

const runUrl =
  env['GITHUB_SERVER_URL'] && env['GITHUB_REPOSITORY'] && env['GITHUB_RUN_ID']
    ? `${env['GITHUB_SERVER_URL']}/${env['GITHUB_REPOSITORY']}/actions/runs/${env['GITHUB_RUN_ID']}${env['GITHUB_RUN_ATTEMPT'] ? `/attempts/${env['GITHUB_RUN_ATTEMPT']}` : ''}`
    : null;
const fence = '~'.repeat(Math.max(3, ...tail.map((l) => (l.match(/~+/g) ?? ['']).reduce((a, b) => Math.max(a, b.length + 1), 0))));
const markdown = redact(
  [
    '## ❌ policy-gate: setup failed',
    '',
    `The step **${failedStep}** failed, so no model was validated and nothing was decided. ` +
      `The ONNX Runtime (onnxruntime-node${env['ORT_VERSION'] ? `@${env['ORT_VERSION']}` : ''}) is installed from the npm registry on a cache miss: a runner that cannot reach it (an outage, ` +
      'GitHub Enterprise Server without registry access, an offline self-hosted runner) needs a warm cache or a mirror ' +
      '(`npm_config_registry`); see docs/action.md ("When setup fails").',
    ...(tail.length ? ['', "npm's last error lines:", '', fence, ...tail, fence] : []),
    '',
    runUrl ? `See the [job log](${runUrl}) for details.` : 'See the job log for details.',
    '',
  ].join('\n'),
);

function headSha() {
  let event = {};
  try {
    event = JSON.parse(readFileSync(env['GITHUB_EVENT_PATH'] ?? '', 'utf8'));
  } catch {
    // No payload: fall back to GITHUB_SHA.
  }
  const sha = event.pull_request?.head?.sha ?? event.workflow_run?.head_sha ?? env['GITHUB_SHA'];
  return typeof sha === 'string' && /^[0-9a-f]{40}$/i.test(sha) ? sha : null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Seconds to wait before retry `attempt`, or null when the answer is final. */
function retryDelay(status, headers, body, attempt) {
  if (attempt >= RETRIES) return null;
  const capped = (s) => (s > MAX_WAIT_S ? null : Math.max(0, s));
  if (status === null || status >= 500) return capped(2 ** attempt);
  if (status === 403 || status === 429) {
    const ra = headers.get('retry-after');
    if (ra && /^\d+$/.test(ra.trim())) return capped(Number(ra));
    if (headers.get('x-ratelimit-remaining') === '0') {
      const reset = Number(headers.get('x-ratelimit-reset'));
      if (Number.isFinite(reset)) return capped(Math.ceil(reset - Date.now() / 1000) + 1);
    }
    if (/secondary rate limit/i.test(body)) return capped(60);
    return status === 429 ? capped(2 ** attempt) : null;
  }
  return null;
}

async function request(method, path, body) {
  const url = `${(env['GITHUB_API_URL'] || 'https://api.github.com').replace(/\/+$/, '')}${path}`;
  for (let attempt = 0; ; attempt++) {
    let status = null;
    let headers = new Headers();
    let text = '';
    try {
      const res = await fetch(url, {
        method,
        headers: {
          authorization: `token ${env['INPUT_GITHUB_TOKEN']}`,
          accept: 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          'content-type': 'application/json',
          'user-agent': 'policy-gate-setup',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
      if (res.ok) return JSON.parse(text || '{}');
    } catch (err) {
      if (status !== null && status < 300) status = null; // a body cut short: retried like a network failure
      text = err instanceof Error ? err.message : String(err);
    }
    const wait = retryDelay(status, headers, text, attempt);
    if (wait === null) throw new Error(`GitHub API ${method} ${path}: ${status ?? 'network error'} ${text.slice(0, 300)}`);
    log(`GitHub API ${method} ${path}: ${status ?? 'network error'}; retry ${attempt + 1}/${RETRIES} in ${wait} s`);
    await sleep(wait * 1000);
  }
}

async function main() {
  log(`policy-gate: ${title}`);
  if (env['GITHUB_STEP_SUMMARY']) appendFileSync(env['GITHUB_STEP_SUMMARY'], `${markdown}\n`);
  if (env['GITHUB_OUTPUT']) appendFileSync(env['GITHUB_OUTPUT'], 'conclusion=failure\n');
  if (env['INPUT_SHARD']) {
    log('policy-gate: a shard job posts no check run; the merge job reports the verdict (docs/sharding.md)');
    return;
  }
  if (!env['INPUT_GITHUB_TOKEN'] || !env['GITHUB_REPOSITORY']) {
    log('policy-gate: no token or repository: no check run posted');
    return;
  }
  const [owner, repo] = env['GITHUB_REPOSITORY'].split('/');
  // workflow_run mode with the run-id input: the check goes on that run's commit.
  const sha = /^\d+$/.test(env['INPUT_RUN_ID'] ?? '') ? ((await request('GET', `/repos/${owner}/${repo}/actions/runs/${env['INPUT_RUN_ID']}`)).head_sha ?? null) : headSha();
  if (!sha) {
    log('policy-gate: the commit to report on is not known: no check run posted');
    return;
  }
  const now = new Date().toISOString();
  const created = await request('POST', `/repos/${owner}/${repo}/check-runs`, {
    name: CHECK_NAME,
    head_sha: sha,
    status: 'completed',
    conclusion: 'failure',
    started_at: now,
    completed_at: now,
    ...(env['GITHUB_RUN_ID'] ? { external_id: `${env['GITHUB_RUN_ID']}:${env['GITHUB_RUN_ATTEMPT'] || 1}` } : {}),
    ...(runUrl ? { details_url: runUrl } : {}),
    output: { title, summary: markdown.slice(0, 65_535) },
  });
  log(`policy-gate: check run ${created.id} completed: failure`);
}

main().catch((err) => {
  // Reporting is best effort: the failed step already fails the job.
  process.stdout.write(`::warning::${inert(redact(`policy-gate: the failed setup could not be reported as a check run: ${err instanceof Error ? err.message : String(err)}`))}\n`);
});
