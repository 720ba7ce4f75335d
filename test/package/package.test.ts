// The package as a consumer gets it: `npm pack`, installed from the tarball into a new project
// (dependencies from the local npm cache), a consumer type-checked under `tsc --strict`, and a
// loop device backed up and restored through the installed package. One install serves every
// assertion: it is the slowest part.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, lstatSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { makeImage, sha256File, tempDir, type Kind } from '../helpers/images.js';
import { createTestBucket, getS3Endpoint, removeBucket, type S3Endpoint } from '../helpers/s3-server.js';

// This process's own S3 client (bucket set-up) would print the SDK's Node 22 notice; the
// consumer below runs without this variable, so its silence is the package's own.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const isRoot = process.getuid?.() === 0;
const loopReason = !isRoot
  ? 'the loop-device round trip needs root (losetup)'
  : spawnSync('losetup', ['--version']).status !== 0
    ? 'losetup is not installed'
    : !existsSync('/dev/loop-control')
      ? 'no loop driver (/dev/loop-control)'
      : undefined;
if (loopReason) console.warn(`[package.test] loop-device test skipped: ${loopReason}`);

const version = (JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: ROOT, encoding: 'utf8' })) as { version: string }).version;

let dir: string;
let project: string;
let tarball: string;
let packed: string[];
let installLog: string;
const devices: string[] = [];

const run = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> =>
  spawnSync(cmd, args, { cwd: opts.cwd ?? project, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: 240_000 });
const installed = (...p: string[]) => path.join(project, 'node_modules', 'blockvault', ...p);
const bin = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [installed('dist/src/cli/main.js'), ...args], { env });

const CONSUMER = `import { BlockvaultError, ErrorCodes, backup, isPendingBackup, listBackups, openVault, restore, showBackup, type BackupResult, type ProgressEvent } from 'blockvault';

const [vaultDir, source, target] = process.argv.slice(2) as [string, string, string];
const vault = await openVault(vaultDir, { create: true, blockSize: 64 * 1024 });
let events = 0;
const b: BackupResult = await backup(vault, {
  source,
  volumeId: 'dev-1',
  onProgress: (e: ProgressEvent) => {
    if (e.bytesDone >= 0) events++;
  },
});
const r = await restore(vault, { backupId: b.backupId, target });
let notFound = '';
try {
  await restore(vault, { backupId: 'no-such-backup', target: target + '.x' });
} catch (e) {
  if (e instanceof BlockvaultError && e.code === ErrorCodes.backupNotFound) notFound = e.code;
  else throw e;
}
const listed = (await listBackups(vault)).length;
const shown = await showBackup(vault, b.backupId);
if (isPendingBackup(shown)) throw new Error('backup ' + b.backupId + ' is still ' + shown.status);
const kind: string = shown.source.kind;
await vault.close();
process.stdout.write(JSON.stringify({ backupId: b.backupId, kind, listed, restored: r.volumeSize, events, notFound }) + '\\n');
`;

const S3_CONSUMER = `import { listBackups, openVault } from 'blockvault';
const vault = await openVault(process.argv[2]!, { create: true, endpoint: process.env.S3_ENDPOINT });
await listBackups(vault);
await vault.close();
`;

beforeAll(async () => {
  dir = await tempDir('package');
  project = path.join(dir, 'consumer');
  await fs.mkdir(project);
  // The build is pretest's; skip the prepare script here (it would rebuild the same dist).
  const pack = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const info = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(dir, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  await fs.writeFile(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { blockvault: `file:${tarball}` }, allowScripts: { [`file:${tarball}`]: true, 'fs-ext': true } }, null, 2),
  );
  await fs.writeFile(path.join(project, 'consumer.ts'), CONSUMER);
  await fs.writeFile(path.join(project, 's3-consumer.ts'), S3_CONSUMER);
  await fs.writeFile(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        outDir: 'out',
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules/@types')],
        skipLibCheck: true,
      },
      files: ['consumer.ts', 's3-consumer.ts'],
    }),
  );
  const inst = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock']);
  installLog = inst.stdout + inst.stderr;
  if (inst.status !== 0) throw new Error(`npm install of the tarball failed:\n${installLog}`);
}, 300_000);

afterAll(async () => {
  for (const dev of devices) spawnSync('losetup', ['-d', dev]);
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships the library and the addon sources, not the tests, bench or demo', () => {
    expect(packed).toContain('dist/src/index.js');
    expect(packed).toContain('dist/src/index.d.ts');
    expect(packed).toContain('dist/src/cli/main.js');
    expect(packed).toContain('native/binding.gyp');
    expect(packed).toContain('native/src/block_device.c');
    expect(packed).toContain('native/build.cjs');
    expect(packed.filter((f) => /^(test|bench|demo|dist\/bench|dist\/demo|src)\//.test(f))).toEqual([]);
  });

  it('installs with the addon built and no dangling links', () => {
    // npm 11 names a tarball dependency by its resolved identity in allowScripts (a registry
    // install: "blockvault"); with that entry it has nothing to warn about.
    expect(installLog).not.toMatch(/not yet covered by allowScripts/);
    expect(existsSync(installed('native/build/Release/blockvault_native.node')), installLog).toBe(true);
    const scoped = path.join(project, 'node_modules', '@blockvault');
    expect(existsSync(scoped) ? readdirSync(scoped) : []).toEqual([]);
    for (const name of readdirSync(path.join(project, 'node_modules'))) {
      const p = path.join(project, 'node_modules', name);
      if (lstatSync(p).isSymbolicLink()) expect(existsSync(p), `${p} is a dangling link`).toBe(true);
    }
    expect(bin(['--version']).stdout.trim()).toBe(version);
    // The command npm links runs by its first line (env -S node with the CLI's V8 flags).
    const linked = run(path.join(project, 'node_modules', '.bin', 'blockvault'), ['--version'], { env: {} });
    expect(linked.status, linked.stderr).toBe(0);
    expect(linked.stdout.trim()).toBe(version);
  });

  it('type-checks a consumer under tsc --strict', () => {
    const tsc = run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    expect(existsSync(path.join(project, 'out/consumer.js'))).toBe(true);
  });

  it.skipIf(!!loopReason)('backs up and restores a loop device through the installed package, printing nothing of its own', async () => {
    const img = path.join(dir, 'disk.img');
    const kinds: Kind[] = ['random', 'zeros', 'text', 'hole', 'random', 'repeat', 'hole', 'text'];
    await makeImage(img, { blocks: Array.from({ length: 128 }, (_, i) => kinds[i % kinds.length]!), blockSize: 64 * 1024, seed: 15 });
    const dev = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
    devices.push(dev);
    const out = path.join(dir, 'restored.img');
    const r = run(process.execPath, ['out/consumer.js', path.join(dir, 'vault'), dev, out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // the library itself prints nothing
    const res = JSON.parse(r.stdout) as { kind: string; listed: number; restored: number; events: number; notFound: string };
    expect(res.kind).toBe('block-device');
    expect(res.listed).toBe(1);
    expect(res.restored).toBe(8 * 1024 * 1024);
    expect(res.events).toBeGreaterThan(0);
    expect(res.notFound).toBe('VolumeBackup.0111');
    expect(await sha256File(out)).toBe(await sha256File(img));
    // and the installed CLI reads the device too
    const cli = bin(['backup', dev, '--vault', path.join(dir, 'vault'), '--volume', 'dev-2', '--json']);
    expect(cli.status, cli.stderr).toBe(0);
  });

  it('without the addon and without fs-ext (no compiler), image files still work and devices say what to do', async () => {
    const img = path.join(dir, 'plain.img');
    await makeImage(img, { blocks: ['random', 'hole', 'text', 'zeros'], blockSize: 64 * 1024, seed: 16 });
    const build = installed('native/build');
    const fsExt = path.join(project, 'node_modules', 'fs-ext');
    await fs.rename(build, `${build}.off`);
    const hadFsExt = existsSync(fsExt);
    if (hadFsExt) await fs.rename(fsExt, `${fsExt}.off`);
    try {
      const b = bin(['backup', img, '--vault', path.join(dir, 'v-noaddon'), '--volume', 'img', '--block-size', '64KiB', '--json']);
      expect(b.status, b.stderr).toBe(0);
      const id = (JSON.parse(b.stdout.trim().split('\n').at(-1)!) as { backupId: string }).backupId;
      const out = path.join(dir, 'plain.out');
      expect(bin(['restore', id, out, '--vault', path.join(dir, 'v-noaddon')]).status).toBe(0);
      expect(await sha256File(out)).toBe(await sha256File(img));
      if (!loopReason) {
        const d = bin(['backup', devices[0] ?? '/dev/loop0', '--vault', path.join(dir, 'v-noaddon'), '--volume', 'dev']);
        expect(d.status).toBe(1);
        expect(d.stderr).toMatch(/BV\.Unsupported.*native/);
        expect(d.stderr).toMatch(/npm rebuild blockvault/);
      }
    } finally {
      await fs.rename(`${build}.off`, build);
      if (hadFsExt) await fs.rename(`${fsExt}.off`, fsExt);
    }
  });

  it('opening an S3 vault prints nothing (no SDK notice)', async () => {
    const target = await getS3Endpoint();
    if ('skip' in target) {
      console.warn(`[package.test] S3 check skipped: ${target.skip}`);
      return;
    }
    const s3 = target as S3Endpoint;
    const bucket = await createTestBucket(s3, 'package');
    try {
      const r = run(process.execPath, ['out/s3-consumer.js', `s3://${bucket}/p`], {
        env: { S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined, BLOCKVAULT_CACHE_DIR: 'off' },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toBe('');
    } finally {
      await removeBucket(s3, bucket);
    }
  });
});
