import { InvalidArgumentError, type Command } from 'commander';
import { bashCompletion, zshCompletion } from '../completion.js';
import { newCommand } from '../command.js';

export function register(program: Command): void {
  newCommand(program, 'completion', 'print a completion script for bash or zsh', [
    'eval "$(blockvault completion bash)"',
    'blockvault completion zsh > "${fpath[1]}/_blockvault"',
  ])
    .argument('<shell>', 'bash or zsh', (shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new InvalidArgumentError('bash or zsh');
      return shell;
    })
    .action((shell: string) => {
      process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
    });
}
