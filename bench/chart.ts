// The bench's chart: one group per scenario, one horizontal bar per contender (blockvault, the
// peers, the floors), wall seconds (medians over rounds; shorter is better). Plain SVG written by
// hand, so the chart needs no dependency and diffs as text.

export interface ChartBar {
  label: string;
  seconds: number | undefined;
  kind: 'ours' | 'peer' | 'floor';
}

export interface ChartGroup {
  title: string;
  bars: ChartBar[];
}

const COLORS: Record<ChartBar['kind'], string> = { ours: '#1f6feb', peer: '#8b949e', floor: '#2da44e' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An SVG document; each group is scaled to its own longest bar. */
export function renderChart(title: string, subtitle: string, groups: ChartGroup[]): string {
  const width = 760;
  const labelW = 230;
  const barMax = width - labelW - 90;
  const barH = 16;
  const gap = 6;
  const parts: string[] = [];
  let y = 48;
  for (const g of groups) {
    const bars = g.bars.filter((b) => b.seconds !== undefined && Number.isFinite(b.seconds));
    if (!bars.length) continue;
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(g.title)}</text>`);
    y += 22;
    const max = Math.max(...bars.map((b) => b.seconds!));
    for (const b of bars) {
      const w = max > 0 ? Math.max(1, (b.seconds! / max) * barMax) : 1;
      parts.push(
        `<text x="${labelW - 8}" y="${y + barH - 4}" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b.kind]}"/>`,
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + barH - 4}">${b.seconds!.toFixed(2)} s</text>`,
      );
      y += barH + gap;
    }
    y += 10;
  }
  const legend = (['ours', 'peer', 'floor'] as const)
    .map((k, i) => `<rect x="${labelW + i * 110}" y="${y}" width="12" height="12" fill="${COLORS[k]}"/><text x="${labelW + i * 110 + 16}" y="${y + 11}">${k === 'ours' ? 'blockvault' : k === 'peer' ? 'peer' : 'floor (this machine)'}</text>`)
    .join('');
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="36" fill="#57606a">${esc(subtitle)}</text>`,
    ...parts,
    legend,
    '</svg>',
    '',
  ].join('\n');
}
