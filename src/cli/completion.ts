// Shell completion scripts, generated from the command tree itself, so a new command or flag
// completes without editing this file.
import type { Command, Option } from 'commander';

interface Node {
  key: string;
  options: Array<{ flag: string; description: string }>;
  subcommands: Array<{ name: string; description: string }>;
}

function flagsOf(o: Option): string[] {
  return [o.long, o.short].filter((f): f is string => !!f);
}

function nodes(program: Command): Node[] {
  const out: Node[] = [];
  const visit = (cmd: Command, key: string) => {
    const options = cmd.options.flatMap((o) => flagsOf(o).map((flag) => ({ flag, description: o.description })));
    options.push({ flag: '--help', description: 'show help' });
    const subs = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
    out.push({ key, options, subcommands: subs.map((c) => ({ name: c.name(), description: c.summary() || c.description() })) });
    for (const c of subs) visit(c, key ? `${key} ${c.name()}` : c.name());
  };
  visit(program, '');
  return out;
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashCompletion(program: Command): string {
  const all = nodes(program);
  const root = all.find((n) => n.key === '')!;
  const cases = all
    .filter((n) => n.key)
    .map((n) => `    ${sq(n.key)}) opts=${sq(n.options.map((o) => o.flag).join(' '))}; subs=${sq(n.subcommands.map((s) => s.name).join(' '))} ;;`)
    .join('\n');
  const withSubs = all.filter((n) => n.key && !n.key.includes(' ') && n.subcommands.length).map((n) => n.key);
  return `# bash completion for blockvault. Load it with:
#   eval "$(blockvault completion bash)"            (in ~/.bashrc)
#   blockvault completion bash > /etc/bash_completion.d/blockvault
_blockvault() {
  local cur=\${COMP_WORDS[COMP_CWORD]} key=\${COMP_WORDS[1]} opts subs
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W ${sq([...root.subcommands.map((s) => s.name), ...root.options.map((o) => o.flag)].join(' '))} -- "$cur"))
    return
  fi
  case "$key" in
    ${withSubs.length ? withSubs.map(sq).join('|') : "''"})
      if [[ $COMP_CWORD -gt 2 && \${COMP_WORDS[2]} != -* ]]; then key="$key \${COMP_WORDS[2]}"; fi ;;
  esac
  case "$key" in
${cases}
    *) opts=''; subs='' ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ $COMP_CWORD -eq 2 && -n $subs ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _blockvault blockvault
`;
}

export function zshCompletion(program: Command): string {
  const all = nodes(program);
  const desc = (name: string, d: string) => sq(`${name.replace(/:/g, '\\:')}:${d.replace(/\s+/g, ' ')}`);
  const root = all.find((n) => n.key === '')!;
  const withSubs = all.filter((n) => n.key && !n.key.includes(' ') && n.subcommands.length).map((n) => n.key);
  const cases = all
    .filter((n) => n.key)
    .map(
      (n) =>
        `    ${sq(n.key)})\n      opts=(${n.options.map((o) => desc(o.flag, o.description)).join(' ')})\n      subs=(${n.subcommands.map((s) => desc(s.name, s.description)).join(' ')}) ;;`,
    )
    .join('\n');
  return `#compdef blockvault
# zsh completion for blockvault. Load it with:
#   eval "$(blockvault completion zsh)"             (in ~/.zshrc, after compinit)
#   blockvault completion zsh > "\${fpath[1]}/_blockvault"
_blockvault() {
  local -a cmds opts subs
  cmds=(${root.subcommands.map((s) => desc(s.name, s.description)).join(' ')})
  if (( CURRENT == 2 )); then
    _describe -t commands 'blockvault command' cmds
    return
  fi
  local key=\${words[2]}
  case $key in
    ${withSubs.length ? withSubs.join('|') : "''"})
      if (( CURRENT > 3 )) && [[ \${words[3]} != -* ]]; then key="$key \${words[3]}"; fi ;;
  esac
  case $key in
${cases}
    *) opts=(); subs=() ;;
  esac
  if [[ $PREFIX == -* ]]; then
    _describe -t options 'option' opts
  elif (( CURRENT == 3 )) && (( \${#subs} )); then
    _describe -t commands 'subcommand' subs || _files
  else
    _files
  fi
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _blockvault "$@"
else
  compdef _blockvault blockvault
fi
`;
}
