// The command tree is built from the command catalog on demand: a run loads the module of the
// command it names and no other. The catalog's names must be the names the modules register,
// or a command would be loaded for the wrong word (or never).
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { buildProgram, commandsFor } from '../../src/cli/program.js';

const names = (argv: string[]) => commandsFor(argv).map((c) => c.name);
const ALL = COMMANDS.map((c) => c.name);

describe('the command catalog', () => {
  it('each entry registers exactly one command, under the entry\'s name', async () => {
    for (const entry of COMMANDS) {
      const program = new Command('blockvault');
      (await entry.load()).register(program);
      expect(program.commands.map((c) => c.name()), entry.name).toEqual([entry.name]);
    }
  });

  it('a run registers the command it names, none for --version, all when it names none', () => {
    expect(names(['backup', 'disk.img', '--volume', 'v'])).toEqual(['backup']);
    expect(names(['restore', '--help'])).toEqual(['restore']);
    expect(names(['--version'])).toEqual([]);
    expect(names(['-V'])).toEqual([]);
    expect(names([])).toEqual(ALL);
    expect(names(['--help'])).toEqual(ALL);
    expect(names(['--version', '--help'])).toEqual(ALL);
    expect(names(['help', 'backup'])).toEqual(ALL); // help lists or describes any
    expect(names(['bakup'])).toEqual(ALL); // a typo gets its suggestion from all names
    expect(names(['completion', 'bash'])).toEqual(ALL); // the script covers every command
  });

  it('the program built for one command has only it; the root help one has all', async () => {
    expect((await buildProgram(['list', '--vault', 'x'])).commands.map((c) => c.name())).toEqual(['list']);
    expect((await buildProgram(['--version'])).commands).toEqual([]);
    expect((await buildProgram(['--help'])).commands.map((c) => c.name())).toEqual(ALL);
  });
});

describe('log levels without the logger', () => {
  it('info is off by default and on with -v; warnings are on unless -q', async () => {
    const { logs } = await import('../../src/cli/context.js');
    expect(logs({}, 'info')).toBe(false);
    expect(logs({}, 'warn')).toBe(true);
    expect(logs({ verbose: 1 }, 'info')).toBe(true);
    expect(logs({ verbose: 1 }, 'debug')).toBe(false);
    expect(logs({ verbose: 2 }, 'debug')).toBe(true);
    expect(logs({ quiet: true }, 'warn')).toBe(false);
    expect(logs({ quiet: true }, 'error')).toBe(true);
  });
});
