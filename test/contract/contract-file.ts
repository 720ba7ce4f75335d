// Reads the control-plane contract's field tables (§1) and error-code tables (§5) so the
// contract test walks the file itself: a field or code added there fails the test until it
// is accounted for.
import { readFileSync } from 'node:fs';

export const CONTRACT_PATH = process.env.BV_CONTRACT ?? '/work/shared/reference/control-plane-contract.md';

/** Sections whose tables list fields the data plane feeds (control-plane-contract.md §1). */
export const FIELD_SECTIONS = ['1.1', '1.2', '1.3', '1.4', '1.6', '1.7', '1.8', '1.10', '1.11'] as const;

function sections(md: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of md.split('\n')) {
    const h = /^###\s+(\d+\.\d+)\s/.exec(line);
    if (h) {
      cur = [];
      out.set(h[1]!, cur);
    } else if (/^##\s/.test(line)) cur = undefined;
    else cur?.push(line);
  }
  return out;
}

const ticks = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** `section:name` for every field named in the first field/key column of a §1 table. */
export function contractFields(md = readFileSync(CONTRACT_PATH, 'utf8')): string[] {
  const out = new Set<string>();
  const secs = sections(md);
  for (const s of FIELD_SECTIONS) {
    const lines = secs.get(s) ?? [];
    let col = -1;
    for (const line of lines) {
      if (!line.startsWith('|')) {
        col = -1;
        // §1.10 has no table: its OperationLog line and error_info/common bullets list the fields.
        if (s === '1.10' && /^(OperationLog|- `error_info`|  - `common`)/.test(line)) {
          const names = /^OperationLog/.test(line) ? ticks(line.split(':').slice(1).join(':')) : ticks(line).slice(0, 1).concat(line.includes('common') ? ['progress', 'request_id', 'task_id'] : ['code', 'message']);
          for (const n of names) if (/^[A-Za-z_]/.test(n) && n !== 'common') out.add(`${s}:${n}`);
        }
        continue;
      }
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      if (col < 0) {
        col = cells.findIndex((c) => /^(Field|Key)$/i.test(c));
        if (col < 0) col = 0;
        continue;
      }
      if (/^-+$/.test(cells[0]!.replace(/[: ]/g, ''))) continue;
      for (const n of ticks(cells[col] ?? '')) if (/^[A-Za-z_][\w.:\-[\]-]*$/.test(n)) out.add(`${s}:${n}`);
    }
  }
  return [...out];
}

/** Every code in the §5.1 and §5.2 tables (the data-plane-relevant codes), "0071 / 0072" rows split. */
export function contractCodes(md = readFileSync(CONTRACT_PATH, 'utf8')): string[] {
  const out = new Set<string>();
  const secs = sections(md);
  for (const s of ['5.1', '5.2']) {
    for (const line of secs.get(s) ?? []) {
      if (!line.startsWith('|')) continue;
      const cell = line.split('|')[2]?.trim() ?? '';
      const m = /^((?:VolumeBackup|AutoBackup|BackupService)(?:\.p)?|common)\.(\d{4})((?:\s*\/\s*\d{4})*)$/.exec(cell);
      if (!m) continue;
      out.add(`${m[1]}.${m[2]}`);
      for (const extra of m[3]!.split('/').map((x) => x.trim()).filter(Boolean)) out.add(`${m[1]}.${extra}`);
    }
  }
  return [...out];
}
