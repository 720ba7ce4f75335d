import type { Command } from 'commander';
import { newCommand, usageError } from '../command.js';
import { emit, withVault } from '../context.js';
import { addVaultOptions, type CommonOpts } from '../options.js';
import { formatTable, shortTime } from '../table.js';
import { confirm } from '../prompt.js';

export function register(program: Command): void {
  const locks = newCommand(
    program,
    'locks',
    'list the leases (one operation per volume), held or stale; break one',
    ['blockvault locks --vault ./vault', 'blockvault locks break vol-1 --vault ./vault', 'blockvault locks break vol-1 --yes'],
    'A lease of a process that died expires by itself (2 minutes; at once on the same host).',
  );
  addVaultOptions(locks).action(async (opts: CommonOpts) => {
    await withVault(opts, async (vault) => {
      const leases = await vault.listLeases();
      emit(opts, { leases }, () => {
        if (!leases.length) return '(no leases)';
        return formatTable(
          [{ header: 'SCOPE' }, { header: 'OP' }, { header: 'STATE' }, { header: 'HOST' }, { header: 'PID', align: 'right' }, { header: 'SINCE (UTC)' }, { header: 'EXPIRES (UTC)' }],
          leases.map((l) => [
            l.scope,
            l.record?.op ?? '-',
            l.state + (l.markers.length ? ' (takeover marker)' : ''),
            l.record?.host ?? '-',
            l.record ? String(l.record.pid) : '-',
            l.record ? shortTime(l.record.acquiredAt) : '-',
            l.record ? shortTime(l.record.expiresAt) : '-',
          ]),
        );
      });
    });
  });

  const brk = newCommand(
    locks,
    'break <scope>',
    'remove the lease on SCOPE (a volume id, or "vault") so another operation can run',
    ['blockvault locks break vol-1 --vault ./vault', 'blockvault locks break vault --yes'],
    'Only break a lease whose process you know is gone: two operations on one volume at once can lose backups.',
  ).option('-y, --yes', 'do not ask for confirmation');
  addVaultOptions(brk).action(async (scope: string, opts: CommonOpts & { yes?: boolean }) => {
    await withVault(opts, async (vault) => {
      if (!opts.yes) {
        const held = (await vault.listLeases()).find((l) => l.scope === scope);
        if (held) {
          const who = held.record ? `a ${held.record.op} on ${held.record.host} (pid ${held.record.pid}), ${held.state}` : held.state;
          if (!process.stdin.isTTY) throw usageError(brk, `breaking the lease on ${scope} (${who}) needs confirmation`, 'pass --yes when not at a terminal');
          if (!(await confirm(`break the lease on ${scope} held by ${who}? [y/N] `))) {
            emit(opts, { scope, broken: false }, () => 'left as it was');
            return;
          }
        }
      }
      const r = await vault.breakLease(scope);
      emit(opts, { ...r, broken: true }, () => `broke the lease on ${scope}${r.removed ? ` (a ${r.removed.op} on ${r.removed.host}, pid ${r.removed.pid})` : ''}`);
    });
  });
}
