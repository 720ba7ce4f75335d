// The CLI's manners, each in a separate process as an operator meets them: help and version,
// refused flags, the vault from the environment or a file, short ids and prefixes, tables,
// show, locks, cache, completion, log levels, the progress bar and a cancelled restore.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, finish, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { makeImage, tempDir, type Kind } from '../helpers/images.js';

const BS = 64 * 1024;
let dir: string;
let img: string;
let vault: string;
const ids: string[] = [];
const version = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')).version as string;

beforeAll(async () => {
  dir = await tempDir('cli-cmds');
  img = path.join(dir, 'disk.img');
  await makeImage(img, { blocks: Array.from({ length: 64 }, (_, i) => (i % 4 === 3 ? 'hole' : 'random') as Kind), blockSize: BS, seed: 7 });
  vault = path.join(dir, 'v');
  for (const id of ['aa11-first', 'aa22-second']) {
    const r = await runCli(['backup', img, '--vault', vault, '--volume', 'vol-1', '--block-size', '64KiB', '--backup-id', id, '--json']);
    expect(r.code, r.stderr).toBe(0);
    ids.push(id);
  }
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('help, version and usage errors', () => {
  it('--version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });

  it('each command has its own help with examples; bench included', async () => {
    const b = await runCli(['backup', '--help']);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^Usage: blockvault backup \[options\] <image>/);
    expect(b.stdout).toMatch(/--volume <id>/);
    expect(b.stdout).toMatch(/Examples:\n {2}\$ blockvault backup/);
    expect(b.stdout).not.toMatch(/--keep-last/);
    const bench = await runCli(['bench', '--help']);
    expect(bench.code).toBe(0);
    expect(bench.stdout).toMatch(/--scenarios <list>/);
    expect(bench.stdout).not.toMatch(/^\/\//m);
    const helpCmd = await runCli(['help', 'prune']);
    expect(helpCmd.stdout).toMatch(/--keep-within <duration>/);
  });

  it('refuses inapplicable and unknown flags with the command usage, exit 2', async () => {
    const r = await runCli(['list', '--vault', vault, '--full', '--keep-last', '3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--full'/);
    expect(r.stderr).toMatch(/usage: blockvault list \[options\]/);
    const fast = await runCli(['list', '--vault', vault, '--fast', '--json']);
    expect(fast.code).toBe(2);
    expect(fast.events.at(-1)).toMatchObject({ event: 'error', code: 'BV.BadInput', exitCode: 2 });
    expect(fast.stderr).toMatch(/unknown option '--fast'/);
    const typo = await runCli(['bakup', img]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'bakup' \(did you mean backup\?\)/);
    const extra = await runCli(['list', 'extra-arg', '--vault', vault]);
    expect(extra.code).toBe(2);
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stdout + none.stderr).toMatch(/Commands:/);
  });

  it('bad values exit 2 and create nothing: --block-size abc, a missing input, a mistyped S3 URL', async () => {
    for (const args of [
      ['init', '--vault', path.join(dir, 'n1'), '--block-size', 'abc'],
      ['backup', img, '--vault', path.join(dir, 'n1'), '--volume', 'x', '--block-size', 'abc'],
      ['backup', img, '--vault', path.join(dir, 'n1'), '--volume', 'x', '--concurrency', '0'],
      ['backup', path.join(dir, 'missing.img'), '--vault', path.join(dir, 'n1'), '--volume', 'x'],
      ['backup', img, '--vault', path.join(dir, 'n1'), '--volume', 'x', '--changed-extents', path.join(dir, 'no.json')],
      ['backup', img, '--vault', path.join(dir, 'n1'), '--volume', '../x'],
      ['list', '--vault', path.join(dir, 'n1'), '--endpoint', '127.0.0.1:7480'],
    ]) {
      const r = await runCli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(existsSync(path.join(dir, 'n1')), args.join(' ')).toBe(false);
    }
    const s3 = await runCli(['init', '--vault', 's3:/bucket/x'], { cwd: dir });
    expect(s3.code).toBe(2);
    expect(s3.stderr).toMatch(/not a vault location.*two slashes/s);
    expect(existsSync(path.join(dir, 's3:'))).toBe(false);
  });
});

describe('the vault from the environment or a file', () => {
  it('BLOCKVAULT_VAULT and --vault-file stand in for --vault; neither: exit 2 naming all three', async () => {
    const env = await runCli(['list', '--json'], { env: { BLOCKVAULT_VAULT: vault } });
    expect(env.code, env.stderr).toBe(0);
    expect(env.events[0]!.backups).toHaveLength(2);
    const file = path.join(dir, 'vault.txt');
    await fs.writeFile(file, `# the vault\n${vault}\n`);
    const viaFile = await runCli(['list', '--vault-file', file, '--json']);
    expect(viaFile.events[0]!.backups).toHaveLength(2);
    const missing = await runCli(['list'], { env: { BLOCKVAULT_VAULT: '' } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing --vault/);
    expect(missing.stderr).toMatch(/BLOCKVAULT_VAULT/);
  });
});

describe('ids, tables and show', () => {
  it('list aligns its columns and shows ids short', async () => {
    const r = await runCli(['list', '--vault', vault]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const [head, ...rows] = lines.slice(0, 3);
    for (const col of ['VOLUME', 'TYPE', 'PARENT', 'CREATED']) {
      const at = head!.indexOf(col);
      for (const row of rows) expect(row[at - 1], `${col} in ${row}`).toBe(' ');
      for (const row of rows) expect(row[at], `${col} in ${row}`).not.toBe(' ');
    }
    expect(rows[0]!.startsWith('aa11-fir ')).toBe(true); // 8 characters
    expect(rows[1]).toMatch(/incremental {2,}aa11-fir/);
    expect(lines.at(-1)).toBe('2 backups');
  });

  it('a unique prefix names a backup; an ambiguous one exits 2 listing the matches', async () => {
    const show = await runCli(['show', 'aa22', '--vault', vault, '--json']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.events[0]!.backupId).toBe('aa22-second');
    const amb = await runCli(['show', 'aa', '--vault', vault, '--json']);
    expect(amb.code).toBe(2);
    expect(amb.stderr).toMatch(/ambiguous/);
    expect(amb.stderr).toContain('aa11-first');
    expect(amb.stderr).toContain('aa22-second');
    expect(amb.events.at(-1)!.matches).toEqual(['aa11-first', 'aa22-second']);
    const out = path.join(dir, 'prefix.img');
    const r = await runCli(['restore', 'aa11', out, '--vault', vault]);
    expect(r.code, r.stderr).toBe(0);
    const gone = await runCli(['show', 'zz', '--vault', vault]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/VolumeBackup\.0111/);
  });

  it('show is readable text, and its --json has each field once', async () => {
    const h = await runCli(['show', 'aa22', '--vault', vault]);
    expect(h.code).toBe(0);
    expect(h.stdout.startsWith('{')).toBe(false);
    expect(h.stdout).toMatch(/^backup +aa22-second$/m);
    expect(h.stdout).toMatch(/^parent +aa11-first$/m);
    expect(h.stdout).toMatch(/^chain +aa22-second ← aa11-first/m);
    const j = await runCli(['show', 'aa22', '--vault', vault, '--json']);
    const raw = j.stdout.trim();
    const keys = [...raw.matchAll(/"([A-Za-z_]+)":/g)].map((m) => m[1]);
    expect(raw).not.toContain('"serviceMetadata"');
    expect(raw).not.toContain('"snapshotId"');
    expect(keys.filter((k) => k === 'service_metadata')).toHaveLength(1);
  });
});

describe('locks', () => {
  it('lists a held lease and a stale one; breaking needs --yes off a terminal', async () => {
    const holder = spawn(process.execPath, [path.join(ROOT, 'test/cli/lease-holder.mjs'), vault, 'vol-held'], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await waitForLine(holder, /^held /);
      const past = new Date(Date.now() - 600_000).toISOString();
      await fs.writeFile(
        path.join(vault, 'leases', 'vol-old.json'),
        JSON.stringify({ leaseId: 'dead', scope: 'vol-old', op: 'prune', host: 'elsewhere', pid: 1, acquiredAt: past, expiresAt: past }),
      );
      const j = await runCli(['locks', '--vault', vault, '--json']);
      expect(j.code, j.stderr).toBe(0);
      const leases = j.events[0]!.leases as Array<{ scope: string; state: string; record: { pid: number } }>;
      expect(leases.map((l) => [l.scope, l.state])).toEqual([
        ['vol-held', 'held'],
        ['vol-old', 'expired'],
      ]);
      expect(leases[0]!.record.pid).toBe(holder.pid);
      const table = await runCli(['locks', '--vault', vault]);
      expect(table.stdout).toMatch(/^SCOPE +OP +STATE/);
      expect(table.stdout).toMatch(/^vol-old +prune +expired +elsewhere/m);

      const refused = await runCli(['locks', 'break', 'vol-held', '--vault', vault]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/needs confirmation/);
      expect(refused.stderr).toMatch(/--yes/);
      const busy = await runCli(['backup', img, '--vault', vault, '--volume', 'vol-held']);
      expect(busy.code).toBe(75);
      const broke = await runCli(['locks', 'break', 'vol-held', '--vault', vault, '--yes']);
      expect(broke.code, broke.stderr).toBe(0);
      expect(broke.stdout).toMatch(/broke the lease on vol-held/);
      expect((await runCli(['locks', 'break', 'vol-old', '--vault', vault, '-y'])).code).toBe(0);
      const after = await runCli(['locks', '--vault', vault]);
      expect(after.stdout.trim()).toBe('(no leases)');
      const none = await runCli(['locks', 'break', 'vol-none', '--vault', vault, '--yes']);
      expect(none.code).toBe(2);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.on('close', r));
    }
  });
});

describe('locks break at a terminal', () => {
  it('asks first: "n" leaves the lease, "y" breaks it', async () => {
    const v = path.join(dir, 'lk');
    expect((await runCli(['init', '--vault', v])).code).toBe(0);
    await fs.mkdir(path.join(v, 'leases'), { recursive: true });
    const past = new Date(Date.now() - 600_000).toISOString();
    const rec = path.join(v, 'leases', 'vol-x.json');
    await fs.writeFile(rec, JSON.stringify({ leaseId: 'd', scope: 'vol-x', op: 'backup', host: 'h', pid: 1, acquiredAt: past, expiresAt: past }));
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} locks break vol-x --vault ${JSON.stringify(v)}`;
    // script gives the command a terminal; its stdin (the answer) arrives once the question is up
    const answer = (a: string) => spawnSync('sh', ['-c', `(sleep 1.5; echo ${a}) | script -qec '${cmd}' /dev/null`], { encoding: 'utf8' }).stdout;
    const no = answer('n');
    expect(no).toMatch(/break the lease on vol-x held by a backup on h \(pid 1\), expired\? \[y\/N\]/);
    expect(no).toMatch(/left as it was/);
    expect(existsSync(rec)).toBe(true);
    expect(answer('y')).toMatch(/broke the lease on vol-x/);
    expect(existsSync(rec)).toBe(false);
  });
});

describe('cache', () => {
  it('says where and how big, and clears one vault or all', async () => {
    const root = path.join(dir, 'cache');
    const { vaultCacheId } = await import('../../dist/src/vault/index-cache.js');
    const { decodeConfig } = await import('../../dist/src/vault/config.js');
    const cfg = decodeConfig(await fs.readFile(path.join(vault, 'config')), 'config');
    const mine = vaultCacheId(cfg.hashKey);
    for (const [id, bytes] of [
      [mine, 3000],
      ['0123456789abcdef0123456789abcdef', 500],
    ] as const) {
      await fs.mkdir(path.join(root, id, 'index'), { recursive: true });
      await fs.writeFile(path.join(root, id, 'index', 'seg~1~x'), Buffer.alloc(bytes));
    }
    const env = { BLOCKVAULT_CACHE_DIR: root };
    const info = await runCli(['cache', '--json'], { env });
    expect(info.code, info.stderr).toBe(0);
    expect(info.events[0]).toMatchObject({ dir: root, enabled: true, bytes: 3500 });
    const human = await runCli(['cache'], { env });
    expect(human.stdout).toMatch(new RegExp(`^${root}: 3\\.4 KiB for 2 vaults`));
    expect((await runCli(['cache', 'clear'], { env: { ...env, BLOCKVAULT_VAULT: '' } })).code).toBe(2);
    const one = await runCli(['cache', 'clear', '--vault', vault], { env });
    expect(one.code, one.stderr).toBe(0);
    expect(existsSync(path.join(root, mine))).toBe(false);
    expect(existsSync(path.join(root, '0123456789abcdef0123456789abcdef'))).toBe(true);
    expect((await runCli(['cache', 'clear', '--all'], { env })).code).toBe(0);
    expect(await fs.readdir(root)).toEqual([]);
    const off = await runCli(['cache'], { env: { BLOCKVAULT_CACHE_DIR: 'off' } });
    expect(off.stdout).toMatch(/off/);
  });
});

describe('completion', () => {
  const complete = (script: string, words: string[]) => {
    const line = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _blockvault; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return spawnSync('bash', ['-c', line], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  };

  it('bash: commands, each command\'s own flags, subcommands', async () => {
    const r = await runCli(['completion', 'bash']);
    expect(r.code).toBe(0);
    expect(spawnSync('bash', ['-n'], { input: r.stdout }).status).toBe(0);
    expect(complete(r.stdout, ['blockvault', 'ba'])).toEqual(['backup']);
    expect(complete(r.stdout, ['blockvault', 'backup', '--vo'])).toEqual(['--volume']);
    expect(complete(r.stdout, ['blockvault', 'list', '--keep'])).toEqual([]);
    expect(complete(r.stdout, ['blockvault', 'locks', 'b'])).toEqual(['break']);
    expect(complete(r.stdout, ['blockvault', 'locks', 'break', '--y'])).toEqual(['--yes']);
  });

  it('zsh: a #compdef script; an unknown shell exits 2', async () => {
    const z = await runCli(['completion', 'zsh']);
    expect(z.code).toBe(0);
    expect(z.stdout.startsWith('#compdef blockvault\n')).toBe(true);
    expect(z.stdout).toContain("'backup:back up a disk image");
    expect(z.stdout).toContain("'--keep-last:keep the N newest'");
    const zsh = spawnSync('zsh', ['-n'], { input: z.stdout });
    if (!zsh.error) expect(zsh.status).toBe(0);
    expect((await runCli(['completion', 'fish'])).code).toBe(2);
  });
});

describe('log levels', () => {
  it('quiet by default, -v logs info to stderr, -q only errors', async () => {
    const plain = await runCli(['list', '--vault', vault]);
    expect(plain.stderr).toBe('');
    const v = await runCli(['list', '--vault', vault, '-v']);
    expect(v.stderr).toMatch(/^blockvault: info: vault file:\/\/.* opened/m);
    const vj = await runCli(['list', '--vault', vault, '-v', '--json']);
    expect(JSON.parse(vj.stderr.trim().split('\n')[0]!)).toMatchObject({ level: 30 });
    const q = await runCli(['backup', img, '--vault', vault, '--volume', 'vol-q', '-q']);
    expect(q.code).toBe(0);
    expect(q.stderr).toBe('');
  });
});

describe('progress and cancellation', () => {
  it('the bar on a terminal: human total, rate and ETA; never "NF" or a raw byte count', async () => {
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} backup ${JSON.stringify(img)} --vault ${JSON.stringify(path.join(dir, 'tty'))} --volume t --block-size 64KiB --full --concurrency 1`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, BLOCKVAULT_WORKERS: '0', BLOCKVAULT_PROGRESS_BYTES: String(256 * 1024), COLUMNS: '160' },
    });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/backup +\[[█░]+\] +\d+% \| [\d.]+ (B|KiB|MiB) \/ 4\.0 MiB \| [\d.]+ (B|KiB|MiB)\/s \| ETA (--|\d+:\d\d)/);
    expect(r.stdout).not.toMatch(/NF|of \d{5,}/);
  });

  it('Ctrl-C on a terminal stops the bar before the error: nothing redraws after it', async () => {
    const big = path.join(dir, 'tty-big.img');
    await makeImage(big, { blocks: Array.from({ length: 768 }, () => 'random' as Kind), blockSize: BS, seed: 11 });
    const script = path.join(dir, 'ctrl-c.sh');
    // the shell signals the backup it started, by its pid, as a terminal's Ctrl-C would; the
    // upload limit keeps the 48 MiB backup running for seconds, so the signal always finds it
    await fs.writeFile(
      script,
      `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} backup ${JSON.stringify(big)} --vault ${JSON.stringify(path.join(dir, 'tty-c'))} --volume c --block-size 64KiB --concurrency 1 --limit-upload 8MiB &\npid=$!\nsleep 1.5\nkill -INT $pid\nwait $pid\necho "rc=$?"\n`,
    );
    const r = spawnSync('script', ['-qec', `sh ${script}`, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, BLOCKVAULT_WORKERS: '0', BLOCKVAULT_PROGRESS_BYTES: String(256 * 1024) },
    });
    const text = r.stdout.replace(/\r/g, '\n');
    expect(text).toMatch(/rc=130/);
    const after = text.slice(text.indexOf('cancelling'));
    expect(after).toMatch(/error \[BV\.Aborted\]/);
    expect(after).not.toMatch(/ETA|█|░/);
    expect(text.slice(0, text.indexOf('cancelling'))).toMatch(/ETA/);
  });

  it('a cancelled restore exits 130 with a restore hint, not the backup resume hint', async () => {
    const big = path.join(dir, 'big.img');
    await makeImage(big, { blocks: Array.from({ length: 768 }, () => 'random' as Kind), blockSize: BS, seed: 9 });
    const b = await runCli(['backup', big, '--vault', path.join(dir, 'vr'), '--volume', 'r', '--block-size', '64KiB', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const child = startCli(['restore', b.events.at(-1)!.backupId, path.join(dir, 'r.img'), '--vault', path.join(dir, 'vr'), '--json', '--concurrency', '1'], {
      env: { BLOCKVAULT_WORKERS: '0', BLOCKVAULT_PROGRESS_BYTES: String(512 * 1024) },
    });
    const done = finish(child);
    await waitForLine(child, /"event":"progress"/);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    const err = r.events.at(-1)!;
    expect(err).toMatchObject({ event: 'error', code: 'BV.Aborted' });
    expect(err.message).toMatch(/restore of .* cancelled/);
    expect(err.hint).not.toMatch(/chunks already written are reused/);
    expect(r.stderr).not.toMatch(/chunks already written are reused/);
    expect(existsSync(path.join(dir, 'r.img'))).toBe(false);
  });
});

describe('README', () => {
  it('its "Command line" list is the command list of --help, descriptions included', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Command line'));
    const block = /```\n([\s\S]*?)```/.exec(section)![1]!;
    const documented = block.trim().split('\n').map((l) => l.replace(/^blockvault /, '').replace(/\s+/, ' ').trim());
    const help = (await runCli(['--help'], { env: { COLUMNS: '200' } })).stdout;
    const commands = help.slice(help.indexOf('Commands:\n') + 'Commands:\n'.length, help.indexOf('\n\n', help.indexOf('Commands:\n')));
    const listed = commands
      .split('\n')
      .map((l) => l.trim().match(/^(\S+)(?: \[options\])?(?: <[^>]+>| \[[^\]]+\])*\s{2,}(.*)$/)!)
      .map((m) => `${m[1]} ${m[2]}`);
    expect(documented).toEqual(listed);
  });
});
