// Stand-in for the CLI's copy/export/import commands in child processes (kill -9, stdin and
// stdout, exit codes), on the built library (dist/). Events go out as JSON lines: on stdout,
// or on stderr when stdout carries an archive.
//   copy FROM TO (--all | --volume V | ID…) [--limit BYTES/S] [--allow-replica-source] [--index-flush-ms N] [--max-attempts N]
//   export VAULT ID (-o FILE | -o -) [--base ID]
//   import VAULT (FILE | -)
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const lib = (p) => import(path.join(ROOT, 'dist/src', p));
// The library's own exit-code map, as the CLI uses it.
const { openVault, ErrorCodes, exitCodeFor: exitCode } = await lib('index.js');
const { copyBackups } = await lib('engine/copy.js');
const { exportBackup } = await lib('engine/archive/export.js');
const { importArchive } = await lib('engine/archive/import.js');

const [cmd, ...rest] = process.argv.slice(2);
const flag = (name) => {
  const i = rest.indexOf(name);
  if (i < 0) return undefined;
  const v = rest[i + 1];
  rest.splice(i, 2);
  return v;
};
const bool = (name) => {
  const i = rest.indexOf(name);
  if (i >= 0) rest.splice(i, 1);
  return i >= 0;
};
let events = process.stdout;
const say = (o) => events.write(JSON.stringify(o) + '\n');


try {
  if (cmd === 'copy') {
    const limit = flag('--limit');
    const flushMs = flag('--index-flush-ms');
    const maxAttempts = flag('--max-attempts');
    const volumeId = flag('--volume');
    const all = bool('--all');
    const allowReplicaSource = bool('--allow-replica-source');
    const [fromUrl, toUrl, ...ids] = rest;
    const from = await openVault(fromUrl);
    const to = await openVault(toUrl, { ...(flushMs ? { indexFlushMs: Number(flushMs) } : {}), ...(maxAttempts ? { maxAttempts: Number(maxAttempts) } : {}) });
    const r = await copyBackups(from, to, {
      ...(all ? { all } : volumeId ? { volumeId } : { backupIds: ids }),
      ...(limit ? { limitBytesPerSec: Number(limit) } : {}),
      allowReplicaSource,
      concurrency: 2,
      progressIntervalMs: 50,
      onProgress: (e) => say({ ...e, records: undefined }),
    });
    say({ event: 'done', ...r });
    await Promise.all([from.close(), to.close()]);
  } else if (cmd === 'export') {
    const out = flag('-o');
    const base = flag('--base');
    const [vaultUrl, id] = rest;
    if (out === '-') events = process.stderr;
    const v = await openVault(vaultUrl);
    const r = await exportBackup(v, id, { out: out === '-' ? process.stdout : createWriteStream(out), end: out !== '-', ...(base ? { base } : {}) });
    say({ event: 'done', ...r });
    await v.close();
  } else if (cmd === 'import') {
    const [vaultUrl, file] = rest;
    const v = await openVault(vaultUrl);
    const r = await importArchive(v, file === '-' ? process.stdin : createReadStream(file));
    say({ event: 'done', ...r });
    await v.close();
  } else {
    throw Object.assign(new Error(`unknown command ${cmd}`), { code: ErrorCodes.badInput });
  }
} catch (e) {
  const code = exitCode(e);
  events.write(JSON.stringify({ event: 'error', exitCode: code, code: e?.code, message: e?.message, hint: e?.hint, details: e?.details }) + '\n', () => process.exit(code));
}
