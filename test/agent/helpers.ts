// Agents on real sockets (127.0.0.1, a free port) over a local vault, and a client for them.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { startAgent, type Agent, type AgentOptions } from '../../src/agent/index.js';
import { openVault } from '../../src/index.js';
import { makeImage, tempDir } from '../helpers/images.js';
import { gatedSource, type GatedSource } from '../jobs/gated-source.js';

export const BS = 65536;
export const TOKEN = 'test-token-0123456789abcdef';

export interface Fixture {
  dir: string;
  vaultDir: string;
  image: string;
}

const dirs: string[] = [];
export async function cleanup(): Promise<void> {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
}

export async function fixture(name: string): Promise<Fixture> {
  const dir = await tempDir(name);
  dirs.push(dir);
  const vaultDir = path.join(dir, 'vault');
  const image = path.join(dir, 'disk.img');
  await makeImage(image, { blockSize: BS, seed: 7, blocks: ['random', 'text', 'hole', 'random', 'repeat', 'random', 'zeros', 'text'] });
  await (await openVault(vaultDir, { create: true, blockSize: BS })).close();
  return { dir, vaultDir, image };
}

export async function agentOn(f: Fixture, opts: Partial<AgentOptions> & { gate?: GatedSource } = {}): Promise<Agent> {
  const { gate, ...rest } = opts;
  return startAgent({
    vault: f.vaultDir,
    listen: '127.0.0.1:0',
    token: TOKEN,
    heartbeatMs: 100,
    logger: pino({ level: 'silent' }),
    prepareJob: (start) =>
      start.type === 'backup'
        ? { ...start, workers: 0, concurrency: 1, intervalMs: 10, everyBytes: 1, ...(gate ? { openedSource: gate.source } : {}) }
        : start,
    ...rest,
  });
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function call(agent: Agent | string, method: string, url: string, opts: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> {
  const base = typeof agent === 'string' ? agent : agent.url;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(base + url, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls GET /v1/jobs/ID until its status is one of `statuses`. */
export function jobReaches(agent: Agent, id: string, ...statuses: string[]): Promise<any> {
  return until(`job ${id} to reach ${statuses.join('/')}`, async () => {
    const r = await call(agent, 'GET', `/v1/jobs/${id}`);
    return statuses.includes(r.body?.status) ? r.body : undefined;
  });
}

export { gatedSource, makeImage };
