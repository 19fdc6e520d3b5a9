// Tables of bench/peers.sh from its outputs in bench/out (peers-<model>-*), with WER from the
// project's own scorer (dist/src/eval/wer.js, normaliser included). Writes bench/out/peers.json.
//   node bench/peers-report.mjs tiny.en base
// Speed ratios are "times as fast as" the reference: reference time / engine time, or engine
// RTF / reference RTF (> 1 = faster than the reference).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scoreWer } from '../dist/src/eval/wer.js';
import { loadManifest, evalDir } from '../dist/src/eval/manifest.js';
import { DEFAULT_PRECISION } from '../dist/src/engine/whisper.js';

const OUT = path.join(path.dirname(new URL(import.meta.url).pathname), 'out');
const models = process.argv.slice(2);
const manifest = loadManifest();
const byId = new Map(manifest.map((c) => [c.id, c]));
const byPath = new Map(manifest.map((c) => [path.resolve(evalDir(), c.path), c]));
const ENGINES = [
  ['chorus', 'default', 'Chorus', DEFAULT_PRECISION],
  ['faster-whisper', 'int8', 'faster-whisper', 'int8'],
  ['faster-whisper', 'float32', 'faster-whisper', 'float32'],
  ['whisper.cpp', 'f16', 'whisper.cpp', 'f16'],
  ['whisper.cpp', 'q8_0', 'whisper.cpp', 'q8_0'],
];
const OPS_KEY = { 'chorus/default': 'chorus', 'faster-whisper/int8': 'fw-int8', 'faster-whisper/float32': 'fw-float32',
  'whisper.cpp/f16': 'wcpp-f16', 'whisper.cpp/q8_0': 'wcpp-q8_0' };

const readJson = (f) => (fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null);
const f = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? '—' : x.toFixed(d));
const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(2)} %`);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length;
  return n === 0 ? null : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

function hyps(file) {  // id -> text from a transcript JSONL (Chorus: "file"; peers: "id")
  const out = new Map();
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    let r; try { r = JSON.parse(line); } catch { continue; }
    if (r.summary) continue;
    const clip = r.id ? byId.get(r.id) : r.file ? byPath.get(path.resolve(r.file)) : undefined;
    if (clip) out.set(clip.id, r.text ?? '');
  }
  return out;
}

function wer(file, set) {  // null when the engine did not transcribe every clip of the set
  const h = hyps(file);
  const clips = manifest.filter((c) => c.set === set);
  if (clips.length === 0 || clips.some((c) => !h.has(c.id))) return null;
  return scoreWer(clips.map((c) => ({ ref: c.text, hyp: h.get(c.id), language: c.language })));
}

function loadRows(tsv) {  // engine/precision -> [cpu busy % before each run]
  const out = new Map();
  if (!fs.existsSync(tsv)) return out;
  for (const l of fs.readFileSync(tsv, 'utf8').split('\n').filter(Boolean)) {
    const [e, p, , busy] = l.split('\t');
    const k = `${e}/${p}`;
    out.set(k, [...(out.get(k) ?? []), Number(busy)]);
  }
  return out;
}

const report = { date: new Date().toISOString(), host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model,
  loadavg_at_report: os.loadavg() }, ratio_definition: 'reference time / engine time (> 1 = engine faster)', models: {} };
const lines = [];
for (const m of models) {
  const off = readJson(path.join(OUT, `peers-${m}-longform-offline.json`));
  const busy = loadRows(path.join(OUT, `peers-${m}-longform-load.tsv`));
  const opsDocs = fs.readdirSync(OUT).filter((n) => n.startsWith(`peers-${m}-ops-`) && n.endsWith('.json'))
    .map((n) => readJson(path.join(OUT, n)));
  const ops = new Map();
  for (const d of opsDocs) if (d) for (const e of d.engines ?? [d]) ops.set(e.key, { ...e, cpu_busy_before_pct: d.cpu_busy_before_pct });
  const rows = [];
  for (const [engine, prec, label, precLabel] of ENGINES) {
    const key = `${engine}/${prec}`;
    const o = off?.engines?.find((r) => r.engine === engine && r.precision === prec);
    const op = ops.get(OPS_KEY[key]);
    const longWer = wer(path.join(OUT, `peers-${m}-longform-${engine}-${prec}.jsonl`), 'longform');
    const check = Object.fromEntries(['jfk', 'librispeech-test-clean'].map((s) =>
      [s, wer(path.join(OUT, `peers-${m}-check-${engine}-${prec}.jsonl`), s)]));
    if (!o && !op && !check.jfk && !check['librispeech-test-clean']) continue;
    rows.push({
      key, label, precision: precLabel, status: o?.status ?? 'not run', reason: o?.reason,
      rtf: o?.rtf, best_rtf: o?.best_rtf, wall_s: o?.wall_s, wall_runs_s: o?.wall_runs_s, peak_rss_mb: o?.peak_rss_mb,
      cpu_busy_before_runs_pct: busy.get(key) ?? [],
      wer_longform: longWer?.wer ?? null, wer_jfk: check.jfk?.wer ?? null, wer_test_clean: check['librispeech-test-clean']?.wer ?? null,
      encoder_ms: op?.encoder_ms_median ?? null, encoder_ms_best: op?.encoder_ms_best ?? null,
      decoder_ms_best: Object.fromEntries(['1', '8', '32'].map((b) => [b, op?.decoder?.[b]?.best_step_ms ?? null])), ops_error: op?.error, ops_cpu_busy_before_pct: op?.cpu_busy_before_pct ?? null,
      decoder_ms: Object.fromEntries(['1', '8', '32'].map((b) => [b, op?.decoder?.[b]?.step_ms ?? null])),
    });
  }
  const ref = (k) => rows.find((r) => r.key === k);
  const fw = ref('faster-whisper/int8'), wf = ref('whisper.cpp/f16'), wq = ref('whisper.cpp/q8_0');
  const faster = (a, b) => (a && b ? b / a : null);  // times as fast: reference / engine (times)
  lines.push(`### ${m}: offline, \`longform\` (4 recordings, ${f(off?.audio_s, 1)} s), ${off?.threads ?? '?'} threads, model load included`, '',
    `RTF = audio s / wall s, median of ${off?.engines?.[0]?.runs ?? '?'} interleaved runs (best run in brackets); ` +
    'ratios are RTF / reference RTF; "busy" = CPU busy % of the whole machine in the second before each run.', '',
    '| engine | precision | RTF | vs fw int8 | vs w.cpp f16 | vs w.cpp q8_0 | peak RSS MB | WER longform | wall s runs | busy before runs |',
    '|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.status === 'not run') continue;
    if (r.status !== 'ok') { lines.push(`| ${r.label} | ${r.precision} | ${r.status}${r.reason ? `: ${r.reason}` : ''} | | | | | | | |`); continue; }
    lines.push(`| ${r.label} | ${r.precision} | ${f(r.rtf, 1)} (${f(r.best_rtf, 1)}) | ${f(fw?.rtf ? r.rtf / fw.rtf : null)} | ` +
      `${f(wf?.rtf ? r.rtf / wf.rtf : null)} | ${f(wq?.rtf ? r.rtf / wq.rtf : null)} | ${f(r.peak_rss_mb, 0)} | ${pct(r.wer_longform)} | ` +
      `${(r.wall_runs_s ?? []).map((x) => x.toFixed(1)).join(', ')} | ${r.cpu_busy_before_runs_pct.join(', ')} |`);
  }
  const anyOps = rows.some((r) => r.encoder_ms !== null || r.ops_error);
  if (anyOps) {
    const od = opsDocs.find(Boolean);
    lines.push('', `### ${m}: encoder and decoder step, ${od?.threads ?? '?'} threads, 30 s window (1500 encoder frames)`, '',
      'Milliseconds, median (best) of the repetitions; ratios (medians) = faster-whisper int8 ms / engine ms and whisper.cpp f16 ms / engine ms. ' +
      'Decoder step: one token per sequence, greedy, no timestamps, positions ~3-43; batch b = b sequences, each on its own encoded window.', '',
      '| engine | precision | encoder ms / window | vs fw int8 | vs w.cpp f16 | decoder ms/step b1 | b8 | b32 | b1 vs fw int8 | b1 vs w.cpp f16 | b8 vs fw int8 | b32 vs fw int8 | busy before |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      if (r.ops_error) { lines.push(`| ${r.label} | ${r.precision} | failed: ${r.ops_error} | | | | | | | | | | |`); continue; }
      if (r.encoder_ms === null) continue;
      const d = r.decoder_ms, fd = fw?.decoder_ms ?? {}, wd = wf?.decoder_ms ?? {};
      const db = r.decoder_ms_best;
      const na = (x, y) => (x === null ? 'n/a' : `${f(x, 2)}${y === null || y === undefined ? '' : ` (${f(y, 2)})`}`);
      lines.push(`| ${r.label} | ${r.precision} | ${f(r.encoder_ms, 0)}${r.encoder_ms_best ? ` (${f(r.encoder_ms_best, 0)})` : ''} | ` +
        `${f(faster(r.encoder_ms, fw?.encoder_ms))} | ` +
        `${f(faster(r.encoder_ms, wf?.encoder_ms))} | ${na(d['1'], db['1'])} | ${na(d['8'], db['8'])} | ${na(d['32'], db['32'])} | ` +
        `${f(faster(d['1'], fd['1']))} | ${f(faster(d['1'], wd['1']))} | ${f(faster(d['8'], fd['8']))} | ${f(faster(d['32'], fd['32']))} | ` +
        `${r.ops_cpu_busy_before_pct ?? '—'} % |`);
    }
    if (wf || wq) lines.push('', 'whisper.cpp b8/b32: n/a — its public API decodes one sequence of one window per call ' +
      '(parallel decoders of whisper_full share one window, at most 8), so batched decoding across windows cannot be measured.');
  }
  const checked = rows.some((r) => r.wer_jfk !== null || r.wer_test_clean !== null);
  if (checked) {
    lines.push('', `### ${m}: accuracy check (same weights), WER by the project's scorer`, '',
      '| engine | precision | jfk | librispeech-test-clean (12 clips) | longform (4) |', '|---|---|---|---|---|');
    for (const r of rows) lines.push(`| ${r.label} | ${r.precision} | ${pct(r.wer_jfk)} | ${pct(r.wer_test_clean)} | ${pct(r.wer_longform)} |`);
  }
  lines.push('');
  report.models[m] = { offline: off, ops: opsDocs.filter(Boolean), rows };
}
console.log(lines.join('\n'));
fs.writeFileSync(path.join(OUT, 'peers.json'), JSON.stringify(report, null, 2) + '\n');
console.error('wrote bench/out/peers.json');
