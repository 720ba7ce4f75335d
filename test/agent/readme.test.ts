// The README's agent example, run as written (bash, the real CLI on PATH, curl), on a free
// port instead of 8420 so that it never meets another agent on this machine.
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli.js';
import { cleanup, fixture } from './helpers.js';
import { freePort } from '../helpers/net.js';

afterAll(cleanup);

const hasCurl = spawnSync('curl', ['--version']).status === 0;

describe('README: HTTP agent', () => {
  it.runIf(hasCurl)('its curl example works as written', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## HTTP agent'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    expect(script).toMatch(/blockvault serve --vault \.\/vault --token-file token/);
    const f = await fixture('agent-readme');
    await fs.rename(f.image, path.join(f.dir, 'disk.img'));
    await fs.rename(f.vaultDir, path.join(f.dir, 'vault'));
    const bin = path.join(f.dir, 'bin');
    await fs.mkdir(bin);
    await fs.writeFile(path.join(bin, 'blockvault'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
    const port = await freePort();
    const run = script.replaceAll('127.0.0.1:8420', `127.0.0.1:${port}`).replace('--token-file token', `--token-file token --listen 127.0.0.1:${port}`);
    const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', run], { cwd: f.dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/\{"job_id":"job-1","job_type":"backup","status":"(INIT|RUNNING)"/);
    expect(r.stdout).toMatch(/"job_id":"job-1","job_type":"backup","status":"SUCCESS"/);
    expect(r.stdout).toMatch(/"engine_code":"BV.JobFinished"/); // the DELETE of a finished job
    expect(r.stdout).toMatch(/"backups":\[\{"id":"[0-9a-f-]{36}","status":"available"/);
    expect(r.stdout).toMatch(/^blockvault_bytes_total\{op="backup",stage="read"\} [1-9]/m);
    const log = await fs.readFile(path.join(f.dir, 'agent.log'), 'utf8');
    expect(log).toMatch(/"msg":"agent stopped"/);
  });
});
