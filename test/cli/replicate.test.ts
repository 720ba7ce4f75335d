// copy, export and import from the command line, each in its own process: exit codes, NDJSON,
// stdin and stdout, the bar on a terminal, replicas refused unless allowed, local and S3.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, finish, runCli, startCli, waitForLine, type CliRun } from '../helpers/cli.js';
import { makeImage, overwrite, sha256File, tempDir, type Kind } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, stopS3Server, type S3Endpoint } from '../helpers/s3-server.js';

const BS = 64 * 1024;
let dir: string;
let img: string;
let src: string;
/** The chain, oldest first, and each point's image hash. */
const ids: string[] = [];
const sha = new Map<string, string>();

async function ok(args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun> {
  const r = await runCli(args, { env });
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}
const result = (r: CliRun) => r.events.at(-1)!;

/** Runs the CLI with stdin read from a file. */
function withStdin(args: string[], file: string): Promise<CliRun> {
  const fd = openSync(file, 'r');
  const child = spawn(process.execPath, [CLI, ...args], { stdio: [fd, 'pipe', 'pipe'] });
  closeSync(fd);
  return finish(child);
}

async function restoresExactly(vault: string, id: string, extra: string[] = []): Promise<void> {
  const out = path.join(dir, `r-${id}.img`);
  await ok(['restore', id, out, '--vault', vault, '--force', ...extra]);
  expect(await sha256File(out), `point ${id}`).toBe(sha.get(id));
  await fs.rm(out);
}

beforeAll(async () => {
  dir = await tempDir('cli-replicate');
  img = path.join(dir, 'disk.img');
  src = path.join(dir, 'src');
  await makeImage(img, { blocks: Array.from({ length: 48 }, (_, i) => (i % 6 === 5 ? 'hole' : 'random') as Kind), blockSize: BS, seed: 11 });
  for (let i = 0; i < 3; i++) {
    if (i) await overwrite(img, i * 5 * BS, randomBytes(2 * BS));
    const r = await ok(['backup', img, '--vault', src, '--volume', 'vol-1', '--block-size', '64KiB', '--backup-id', `c${i}-${randomBytes(4).toString('hex')}`, '--json']);
    ids.push(result(r).backupId);
    sha.set(result(r).backupId, await sha256File(img));
  }
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('copy', () => {
  it('copies a volume with its chain; a second copy sends nothing; the copy restores only with --allow-replica', async () => {
    const dr = path.join(dir, 'dr');
    const r = await ok(['copy', '--from', src, '--to', dr, '--volume', 'vol-1', '--json']);
    const res = result(r);
    expect(res.event).toBe('result');
    expect(res.copied).toEqual(ids); // parents first
    expect(res.present).toEqual([]);
    expect(res.counters.chunksSent).toBeGreaterThan(0);
    expect(res.records).toHaveLength(3);
    for (const rec of res.records) {
      expect(rec).toMatchObject({ status: 'success', destination_backup_id: rec.source_backup_id, vault_id: res.sourceVaultId, destination_vault_id: res.destinationVaultId });
      expect(rec.extra_info).toMatchObject({ progress: 100, fail_code: '' });
    }
    expect(r.events.filter((e) => e.event === 'progress' && e.op === 'copy').length).toBeGreaterThanOrEqual(1);

    const again = result(await ok(['copy', '--from', src, '--to', dr, '--volume', 'vol-1', '--json']));
    expect(again.copied).toEqual([]);
    expect(again.present).toEqual(ids);
    expect(again.counters.chunksSent).toBe(0);
    expect(again.counters.bytesSent).toBe(0);
    expect(again.records.map((x: { status: string }) => x.status)).toEqual(['success', 'success', 'success']);

    const refused = await runCli(['restore', ids[2]!, path.join(dir, 'no.img'), '--vault', dr, '--json']);
    expect(refused.code).toBe(2);
    expect(result(refused)).toMatchObject({ event: 'error', code: 'BV.BadInput' });
    expect(refused.stderr).toMatch(/is a replica.*--allow-replica/s);
    expect(existsSync(path.join(dir, 'no.img'))).toBe(false);
    for (const id of ids) await restoresExactly(dr, id, ['--allow-replica']);

    // the human result names what was copied and what was skipped
    const human = await ok(['copy', '--from', src, '--to', dr, ids[0]!.slice(0, 6)]);
    expect(human.stdout).toMatch(/copied 0 backups from .* \(verbatim\)/);
    expect(human.stdout).toMatch(/already there, skipped: c0-/);
    expect(human.stdout).toMatch(/replication records:\n +c0-\S+ +success +100%/);
  });

  it('one backup id (a prefix) brings its parents; a replica is copied again only with --allow-replica-source', async () => {
    const one = path.join(dir, 'one');
    const r = result(await ok(['copy', '--from', src, '--to', one, ids[1]!.slice(0, 5), '--json']));
    expect(r.copied).toEqual([ids[0], ids[1]]);
    await restoresExactly(one, ids[1]!, ['--allow-replica']);

    const back = path.join(dir, 'back');
    const refused = await runCli(['copy', '--from', one, '--to', back, '--all', '--json']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is a replica .* --allow-replica-source/s);
    expect(existsSync(back)).toBe(false); // refused before the destination is made
    const unknown = await runCli(['copy', '--from', src, '--to', back, 'no-such-backup']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no-such-backup/);
    expect(existsSync(back)).toBe(false);
    const allowed = result(await ok(['copy', '--from', one, '--to', back, '--all', '--allow-replica-source', '--json']));
    expect(allowed.copied).toEqual([ids[0], ids[1]]);
  });

  it('refuses bad usage with exit 2: no source, no destination, no selection or two, a missing source vault', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['copy', '--to', path.join(dir, 'x'), '--all'], /missing --from/],
      [['copy', '--from', src, '--all'], /missing --to/],
      [['copy', '--from', src, '--to', path.join(dir, 'x')], /say what to copy/],
      [['copy', '--from', src, '--to', path.join(dir, 'x'), '--all', '--volume', 'vol-1'], /only one of/],
      [['copy', '--from', src, '--to', path.join(dir, 'x'), '--all', '--limit', 'fast'], /--limit.*not a rate/],
      [['copy', '--from', src, '--to', 's3:/bucket', '--all'], /not a vault location/],
      [['copy', '--from', path.join(dir, 'nothing'), '--to', path.join(dir, 'x'), '--all'], /no vault at/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli([...args, '--json']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(result(r)).toMatchObject({ event: 'error', exitCode: 2 });
    }
    expect(existsSync(path.join(dir, 'x'))).toBe(false);
  });

  it('Ctrl-C stops a copy with exit 130 and records why; only whole backups are visible; a rerun finishes', async () => {
    const dest = path.join(dir, 'cut');
    const child = startCli(['copy', '--from', src, '--to', dest, '--all', '--limit', '512KiB', '--concurrency', '1', '--json']);
    const done = finish(child);
    await waitForLine(child, /"event":"progress"/);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    const err = result(r);
    expect(err).toMatchObject({ event: 'error', code: 'BV.Aborted' });
    const records = err.replicationRecords as Array<{ status: string; source_backup_id: string }>;
    expect(records).toHaveLength(3);
    expect(records.some((x) => x.status === 'failed')).toBe(true);
    const visible = result(await ok(['list', '--vault', dest, '--json'])).backups.map((b: { backupId: string }) => b.backupId);
    expect(visible).toEqual(err.copied);
    expect(visible.length).toBeLessThan(3);
    const rerun = result(await ok(['copy', '--from', src, '--to', dest, '--all', '--json']));
    expect([...rerun.present.filter((id: string) => visible.includes(id)), ...rerun.copied].sort()).toEqual([...ids].sort());
    for (const id of ids) await restoresExactly(dest, id, ['--allow-replica']);
  });

  it('draws a bar on a terminal: percent, backups, chunks sent', async () => {
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} copy --from ${JSON.stringify(src)} --to ${JSON.stringify(path.join(dir, 'tty'))} --all`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/copy +\[[█░]+\] +\d+% \| backup \d\/3 \| \d+ chunks sent \([\d.]+ (B|KiB|MiB)\), \d+ already there \| [\d.]+ (B|KiB|MiB)\/s/);
    expect(r.stdout).toMatch(/copied 3 backups/);
  });
});

describe('export and import', () => {
  it('export to a file and to stdout (nothing else on stdout), import from a file and stdin, restore bit-exact', async () => {
    const file = path.join(dir, 'p2.bvtar');
    const e = result(await ok(['export', ids[2]!.slice(0, 4), '--vault', src, '-o', file, '--json']));
    expect(e).toMatchObject({ event: 'result', backupId: ids[2], volumeId: 'vol-1', baseBackupId: null, output: file });
    expect(e.chunks).toBeGreaterThan(0);
    expect(existsSync(file)).toBe(true);
    expect((await fs.readdir(dir)).filter((n) => n.includes('.partial-'))).toEqual([]);

    const exists = await runCli(['export', ids[2]!, '--vault', src, '-o', file]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/exists.*--force/s);
    await ok(['export', ids[2]!, '--vault', src, '-o', file, '--force']);

    // -o -: the archive alone on stdout; --json events and the result on stderr
    const piped = spawnSync(process.execPath, [CLI, 'export', ids[2]!, '--vault', src, '-o', '-', '--json'], { maxBuffer: 64 << 20 });
    expect(piped.status, piped.stderr.toString()).toBe(0);
    const events = piped.stderr.toString().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ event: 'result', backupId: ids[2], output: '-' });
    expect(events.some((x) => x.event === 'progress' && x.op === 'export')).toBe(true);
    const stdoutArchive = path.join(dir, 'stdout.bvtar');
    await fs.writeFile(stdoutArchive, piped.stdout);
    expect(piped.stdout.length).toBe((await fs.stat(file)).size); // same entries, same sizes

    const a = path.join(dir, 'imp-a');
    await ok(['init', '--vault', a, '--block-size', '64KiB']);
    const i = result(await ok(['import', file, '--vault', a, '--json']));
    expect(i).toMatchObject({ event: 'result', backupId: ids[2], volumeId: 'vol-1', alreadyPresent: false });
    expect(i.chunksWritten).toBe(e.chunks);
    await restoresExactly(a, ids[2]!);
    const twice = result(await ok(['import', file, '--vault', a, '--json']));
    expect(twice).toMatchObject({ alreadyPresent: true, chunksWritten: 0 });

    const b = path.join(dir, 'imp-b');
    await ok(['init', '--vault', b, '--block-size', '64KiB']);
    const s = await withStdin(['import', '-', '--vault', b], stdoutArchive);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/imported backup c2-\S+ of volume vol-1 into .*imp-b/);
    await restoresExactly(b, ids[2]!);
  });

  it('--base leaves out the base point\'s chunks; that archive imports where the base is', async () => {
    const file = path.join(dir, 'inc.bvtar');
    const full = result(await ok(['export', ids[2]!, '--vault', src, '-o', path.join(dir, 'whole.bvtar'), '--json']));
    const inc = result(await ok(['export', ids[2]!, '--vault', src, '-o', file, '--base', ids[1]!.slice(0, 4), '--json']));
    expect(inc.baseBackupId).toBe(ids[1]);
    expect(inc.chunks).toBeLessThan(full.chunks);
    const one = path.join(dir, 'base-holder');
    await ok(['copy', '--from', src, '--to', one, ids[1]!]);
    await ok(['import', file, '--vault', one]);
    await restoresExactly(one, ids[2]!);
  });

  it('a truncated or altered archive fails (exit 3) and makes nothing visible; usage mistakes exit 2', async () => {
    const file = path.join(dir, 'p2.bvtar');
    const bytes = await fs.readFile(file);
    const v = path.join(dir, 'imp-bad');
    await ok(['init', '--vault', v, '--block-size', '64KiB']);
    const cut = path.join(dir, 'cut.bvtar');
    await fs.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 4096] ^= 0xff; // inside the last chunk's body
    const flip = path.join(dir, 'flip.bvtar');
    await fs.writeFile(flip, flipped);
    for (const bad of [cut, flip]) {
      const r = await runCli(['import', bad, '--vault', v, '--json']);
      expect(r.code, `${bad}: ${r.stderr}`).toBe(3);
      expect(result(r)).toMatchObject({ event: 'error', exitCode: 3 });
    }
    expect(result(await ok(['list', '--vault', v, '--json'])).backups).toEqual([]);

    const missing = await runCli(['import', path.join(dir, 'none.bvtar'), '--vault', v]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/none\.bvtar does not exist/);
    const noOut = await runCli(['export', ids[0]!, '--vault', src]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/missing -o FILE/);
    const noVault = await runCli(['import', file, '--vault', path.join(dir, 'not-made')]);
    expect(noVault.code).toBe(2);
    expect(existsSync(path.join(dir, 'not-made'))).toBe(false);
  });
});

const s3target = await getS3Endpoint();
const s3skip = 'skip' in s3target ? s3target.skip : undefined;
if (s3skip) console.warn(`[cli/replicate.test] S3 part skipped: ${s3skip}`);

describe.skipIf(!!s3skip)('copy through S3 (Ceph RGW)', () => {
  const s3 = s3target as S3Endpoint;
  let bucket = '';
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    bucket = await createTestBucket(s3, 'cli-copy');
    env = {
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      BLOCKVAULT_CACHE_DIR: path.join(dir, 'cache'),
    };
  });
  afterAll(async () => {
    await removeBucket(s3, bucket);
    await stopS3Server();
  });

  it('local → S3 → local: every point restores bit-exact; the second copy sends nothing', async () => {
    const url = `s3://${bucket}/dr`;
    const first = result(await ok(['copy', '--from', src, '--to', url, '--all', '--json', '--s3-concurrency', '4'], env));
    expect(first.copied).toEqual(ids);
    const second = result(await ok(['copy', '--from', src, '--to', url, '--all', '--json'], env));
    expect(second.counters).toMatchObject({ chunksSent: 0, bytesSent: 0, manifestsWritten: 0 });
    const back = path.join(dir, 's3-back');
    const r = result(await ok(['copy', '--from', url, '--to', back, '--all', '--allow-replica-source', '--json'], env));
    expect(r.copied).toEqual(ids);
    for (const id of ids) await restoresExactly(back, id, ['--allow-replica']);
  });
});
