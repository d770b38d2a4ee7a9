// End-to-end harness: a real boxoffice backend on a fresh PostgreSQL database, and Debian's Chromium
// driven by playwright-core (no browser downloads). Used by *.test.js with Node's built-in test runner.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const APP_DIR = path.resolve(here, '..');
export const ARTIFACTS = path.join(APP_DIR, 'test-artifacts');

const BOXOFFICE = process.env.BOXOFFICE_BIN ?? path.resolve(APP_DIR, '..', '.venv', 'bin', 'boxoffice');
const PG = {
  host: process.env.E2E_PGHOST ?? '127.0.0.1',
  port: process.env.E2E_PGPORT ?? '5432',
  user: process.env.E2E_PGUSER ?? 'postgres',
};
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export const DEMO_FAN = { email: 'fan@demo.boxoffice.test', password: 'demo-fan-pass' };
export const DEMO_ORGANIZER = { email: 'organizer@demo.boxoffice.test', password: 'demo-organizer-pass' };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates a database, migrates it, loads the demo, and serves it (with dist/ at `/`).
 * Returns { url, stop() }; stop() ends the server and drops the database.
 */
export async function startBackend() {
  if (!existsSync(path.join(APP_DIR, 'dist', 'index.html'))) {
    throw new Error('frontend-sample/dist is missing: run `npm run build` first (`npm run e2e` does).');
  }
  if (!existsSync(BOXOFFICE)) throw new Error(`boxoffice is not installed at ${BOXOFFICE} (set BOXOFFICE_BIN).`);
  const port = await freePort();
  const db = `bo_e2e_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bo-e2e-'));
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    DATABASE_URL: `postgresql://${PG.user}@${PG.host}:${PG.port}/${db}`,
    BOXOFFICE_DATA_DIR: dataDir,
    BOXOFFICE_PUBLIC_URL: url,
  };
  delete env.REDIS_URL; // one process: in-process pub/sub and waiting room
  const pgArgs = ['-h', PG.host, '-p', PG.port, '-U', PG.user];

  await run('createdb', [...pgArgs, db]);
  let server = null;
  let log = '';
  const stop = async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await Promise.race([new Promise((r) => server.once('exit', r)), sleep(8000)]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    await run('dropdb', [...pgArgs, '--if-exists', '--force', db]).catch((e) => console.error(`dropdb ${db}: ${e.message}`));
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await run(BOXOFFICE, ['migrate'], { env });
    await run(BOXOFFICE, ['demo'], { env });
    server = spawn(BOXOFFICE, ['serve', '--host', '127.0.0.1', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk) => (log = (log + chunk).slice(-20_000));
    server.stdout.on('data', keep);
    server.stderr.on('data', keep);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`boxoffice serve exited (${server.exitCode}):\n${log}`);
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`boxoffice serve did not become healthy in 60 s:\n${log}`);
      await sleep(250);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop, log: () => log };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export async function artifactPath(name) {
  await mkdir(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** GraphQL from the test itself (setup only: the app under test is driven through the browser). */
export async function gql(baseUrl, query, variables = {}, token = null) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(`GraphQL error: ${body.errors.map((e) => e.message).join('; ')}`);
  return body.data;
}

export async function logIn(baseUrl, { email, password }) {
  const { logIn } = await gql(baseUrl, `mutation($e: String!, $p: String!) {
    logIn(email: $e, password: $p) { __typename ... on AuthPayload { token } ... on Rejected { code message } } }`, { e: email, p: password });
  if (logIn.__typename !== 'AuthPayload') throw new Error(`log in failed: ${logIn.code} ${logIn.message}`);
  return logIn.token;
}

let userCount = 0;
/** A fresh fan account (each test buys with its own, so per-person ticket limits never collide). */
export async function newFan(baseUrl, label = 'fan') {
  const email = `${label}-${Date.now()}-${++userCount}@e2e.boxoffice.test`;
  const password = 'e2e-password-123';
  const { signUp } = await gql(baseUrl, `mutation($i: SignUpInput!) {
    signUp(input: $i) { __typename ... on AuthPayload { token } ... on Rejected { code message } } }`,
  { i: { email, password, name: `E2E ${label}` } });
  if (signUp.__typename !== 'AuthPayload') throw new Error(`sign up failed: ${signUp.code} ${signUp.message}`);
  return { email, password, token: signUp.token };
}

export async function showsOf(baseUrl, search) {
  const { events } = await gql(baseUrl, `query($f: EventFilter) { events(filter: $f) { edges { node { name shows { id startsAt } } } } }`, { f: { search } });
  const event = events.edges.map((e) => e.node).find((n) => n.name.includes(search));
  if (!event) throw new Error(`demo event "${search}" not found`);
  return [...event.shows].sort((a, b) => a.startsAt.localeCompare(b.startsAt)).map((s) => s.id);
}

/** Logs in through the app's own form. */
export async function logInThroughUi(page, baseUrl, { email, password }, next = '/') {
  await page.goto(`${baseUrl}/#/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForFunction((n) => location.hash === `#${n}`, next, { timeout: 10_000 });
}

/** Collects page errors so a failing test can say what the browser saw. */
export function watchConsole(page, sink) {
  page.on('pageerror', (e) => sink.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') sink.push(`console: ${m.text()}`);
  });
}

/**
 * Records every GraphQL document the app sends: POST bodies and graphql-transport-ws `subscribe`
 * messages. The contract test validates them all against the public schema.
 */
export function recordOperations(page, sink) {
  page.on('request', (request) => {
    if (!request.url().endsWith('/graphql') || request.method() !== 'POST') return;
    try {
      const { query } = JSON.parse(request.postData() ?? '{}');
      if (query) sink.add(query);
    } catch { /* not JSON: the server rejects it, the tests notice */ }
  });
  page.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => {
      try {
        const message = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
        if (message.type === 'subscribe' && message.payload?.query) sink.add(message.payload.query);
      } catch { /* ignore */ }
    });
  });
}

/** The public contract versioned in the repository (contract/), or BOXOFFICE_CONTRACT. */
export async function contractSchemaText() {
  const file = process.env.BOXOFFICE_CONTRACT ?? path.resolve(APP_DIR, '..', 'contract', 'schema.graphql');
  return { file, text: await readFile(file, 'utf8') };
}
