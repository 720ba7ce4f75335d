// The bench starts our CLI with the node flags of its first line, as the installed command
// starts: a flag there that the bench left out would make its figures not the operator's.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, cliArgv, shebangNodeFlags } from '../../bench/our-cli.js';

describe('our CLI as the bench starts it', () => {
  it('takes the node flags from the first line, and none from a plain one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bv-shebang-'));
    try {
      const write = (line: string) => {
        const f = path.join(dir, 'x.js');
        fs.writeFileSync(f, `${line}\nconsole.log(1)\n`);
        return f;
      };
      expect(shebangNodeFlags(write('#!/usr/bin/env -S node --max-semi-space-size=1 --no-warnings'))).toEqual(['--max-semi-space-size=1', '--no-warnings']);
      expect(shebangNodeFlags(write('#!/usr/bin/env node'))).toEqual([]);
      expect(() => shebangNodeFlags(write('// no shebang'))).toThrow(/not a node shebang/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the built CLI with the flags its first line names, which node accepts', () => {
    const argv = cliArgv(['--version']);
    expect(argv.slice(0, -2)).toEqual(shebangNodeFlags(CLI));
    expect(argv).toContain('--max-semi-space-size=1');
    const r = spawnSync(process.execPath, argv, { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
