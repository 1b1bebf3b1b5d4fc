// `gen-modules report`: a self-contained HTML page (inline CSS and SVG, no network, no script)
// that draws what the main chunk carries and what each driver costs when it loads: its own chunk
// plus the shared chunks it pulls in. A pure function from a build manifest to text.

/** The fields of the build manifest (plugin/build-manifest.ts) the report reads. */
export interface ReportManifest {
  buildId?: string;
  bundler?: string;
  entries: readonly string[];
  entryImports: readonly string[];
  drivers: Readonly<Record<string, { kind?: string; state?: string; chunk?: string; imports: readonly string[] }>>;
  probes?: Readonly<Record<string, { chunk: string; imports: readonly string[] }>>;
  chunks: Readonly<Record<string, { bytes: number }>>;
}

interface Row {
  name: string;
  kind: string;
  state: string;
  own: number;
  shared: { file: string; bytes: number }[];
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const kib = (bytes: number) => (bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`);

export function renderReport(manifest: ReportManifest, title = 'gen-modules build report'): string {
  const size = (file: string) => manifest.chunks[file]?.bytes ?? 0;
  const mainFiles = [...manifest.entries, ...manifest.entryImports];
  const mainBytes = mainFiles.reduce((sum, f) => sum + size(f), 0);
  const rows: Row[] = Object.entries(manifest.drivers)
    .map(([name, d]) => ({
      name,
      kind: d.kind ?? 'format',
      state: d.state ?? (d.chunk ? 'module' : 'builtin'),
      own: d.chunk ? size(d.chunk) : 0,
      shared: d.imports.map((file) => ({ file, bytes: size(file) })),
    }))
    .sort((a, b) => b.own + total(b.shared) - (a.own + total(a.shared)) || (a.name < b.name ? -1 : 1));
  const lazyBytes = rows.reduce((sum, r) => sum + r.own, 0);
  const widest = Math.max(mainBytes, ...rows.map((r) => r.own + total(r.shared)), 1);
  const users = new Map<string, string[]>();
  for (const row of rows) for (const s of row.shared) users.set(s.file, [...(users.get(s.file) ?? []), row.name]);

  const bar = (segments: { bytes: number; cls: string; label: string }[]) => {
    const width = 520;
    let x = 0;
    const rects = segments
      .filter((s) => s.bytes > 0)
      .map((s) => {
        const w = Math.max(1, (s.bytes / widest) * width);
        const rect = `<rect x="${x.toFixed(1)}" y="2" width="${w.toFixed(1)}" height="16" class="${s.cls}"><title>${escapeHtml(s.label)}: ${kib(s.bytes)}</title></rect>`;
        x += w;
        return rect;
      })
      .join('');
    return `<svg width="${width}" height="20" role="img">${rects}</svg>`;
  };

  const driverRows = rows
    .map((r) => {
      const shared = total(r.shared);
      const sharedList = r.shared.map((s) => `${escapeHtml(s.file)} (${kib(s.bytes)}, also ${escapeHtml((users.get(s.file) ?? []).filter((n) => n !== r.name).join(', ') || 'no other driver')})`).join('<br>');
      return `<tr><td><b>${escapeHtml(r.name)}</b></td><td>${escapeHtml(r.kind)}</td><td>${escapeHtml(r.state)}</td>
<td class="num">${kib(r.own)}</td><td class="num">${kib(shared)}</td><td class="num">${kib(r.own + shared)}</td>
<td>${bar([
        { bytes: r.own, cls: 'own', label: `${r.name} chunk` },
        ...r.shared.map((s) => ({ bytes: s.bytes, cls: 'shared', label: s.file })),
      ])}</td><td class="small">${sharedList || '-'}</td></tr>`;
    })
    .join('\n');

  const probeRows = Object.entries(manifest.probes ?? {})
    .map(([id, p]) => `<tr><td>${escapeHtml(id)}</td><td class="num">${kib(size(p.chunk))}</td><td class="small">${escapeHtml(p.chunk)}</td></tr>`)
    .join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330}
h1{font-size:20px;margin:0 0 4px}.sub{color:#56607a;margin:0 0 18px}
table{border-collapse:collapse;margin:10px 0 24px}th,td{padding:4px 8px;border-bottom:1px solid #e4e7ee;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.small{font-size:12px;color:#56607a}
rect.main{fill:#4257d6}rect.own{fill:#2e9e5b}rect.shared{fill:#f0a830}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:-1px}
.cards{display:flex;gap:16px;margin-bottom:18px}.card{border:1px solid #dde1ea;border-radius:8px;padding:10px 14px}
.card b{display:block;font-size:20px}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="sub">bundler ${escapeHtml(manifest.bundler ?? '?')}, build ${escapeHtml(manifest.buildId ?? '?')}: what loads at start-up, and what each driver adds when it is first used.</p>
<div class="cards">
<div class="card">main chunk and its static imports<b>${kib(mainBytes)}</b>${mainFiles.length} files</div>
<div class="card">driver chunks, loaded only on use<b>${kib(lazyBytes)}</b>${rows.filter((r) => r.own > 0).length} drivers</div>
<div class="card">share of driver code kept out of start-up<b>${lazyBytes + mainBytes > 0 ? ((100 * lazyBytes) / (lazyBytes + mainBytes)).toFixed(0) : 0}%</b>&nbsp;</div>
</div>
<div class="legend"><span style="background:#4257d6"></span>main<span style="background:#2e9e5b"></span>driver's own chunk<span style="background:#f0a830"></span>shared chunks it needs</div>
<table><tr><th>start-up</th><th colspan="2"></th><th class="num">bytes</th><th></th><th></th><th></th><th>files</th></tr>
<tr><td><b>main</b></td><td colspan="2"></td><td class="num">${kib(mainBytes)}</td><td></td><td></td><td>${bar(mainFiles.map((f) => ({ bytes: size(f), cls: 'main', label: f })))}</td><td class="small">${mainFiles.map(escapeHtml).join('<br>')}</td></tr></table>
<table><tr><th>driver</th><th>kind</th><th>state</th><th class="num">own</th><th class="num">shared</th><th class="num">on first use</th><th></th><th>shared chunks (and who else needs them)</th></tr>
${driverRows}
</table>
${probeRows ? `<h2 style="font-size:15px">Probe modules (loaded only when their guard matches)</h2><table><tr><th>module</th><th class="num">bytes</th><th>chunk</th></tr>${probeRows}</table>` : ''}
</body></html>
`;
}

function total(list: readonly { bytes: number }[]): number {
  return list.reduce((sum, s) => sum + s.bytes, 0);
}
