// Assemble bench/offline.sh results: markdown table on stdout + JSON file.
// Usage: node bench/offline-report.mjs STATUS_TSV EVAL_DIR SETS THREADS MODEL OUT_JSON
import fs from "node:fs";
import path from "node:path";
import os from "node:os";

const [statusPath, evalDir, sets, threads, model, outJson] = process.argv.slice(2);
const want = new Set(sets.split(","));
const clips = fs.readFileSync(path.join(evalDir, "manifest.jsonl"), "utf8").split("\n")
  .filter((l) => l.trim()).map((l) => JSON.parse(l)).filter((m) => want.has(m.set));
const audioS = clips.reduce((s, m) => s + m.duration_s, 0);

function parseTime(file) {  // GNU time -v
  const t = fs.readFileSync(file, "utf8");
  const el = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\):\s*(\S+)/.exec(t)[1].split(":").map(Number);
  const wall = el.reduce((acc, v) => acc * 60 + v, 0);
  const rssKb = Number(/Maximum resident set size \(kbytes\):\s*(\d+)/.exec(t)[1]);
  const user = Number(/User time \(seconds\):\s*([\d.]+)/.exec(t)[1]);
  const sys = Number(/System time \(seconds\):\s*([\d.]+)/.exec(t)[1]);
  return { wall_s: wall, peak_rss_mb: rssKb / 1024, cpu_s: user + sys };
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

const rows = fs.readFileSync(statusPath, "utf8").split("\n").filter(Boolean).map((line) => {
  const [engine, precision, status, reason, runs] = line.split("\t");
  const row = { engine, precision, threads: Number(threads), status, reason: reason || undefined, audio_s: audioS };
  if (status === "ok") {
    const rs = runs.split(" ").map(parseTime);
    Object.assign(row, {
      runs: rs.length, wall_s: median(rs.map((r) => r.wall_s)), best_wall_s: Math.min(...rs.map((r) => r.wall_s)), cpu_s: median(rs.map((r) => r.cpu_s)),
      peak_rss_mb: median(rs.map((r) => r.peak_rss_mb)), wall_runs_s: rs.map((r) => r.wall_s),
    });
    row.rtf = audioS / row.wall_s;
    row.best_rtf = audioS / row.best_wall_s;
    const tag = precision === "default" ? engine : `${engine}-${precision}`;
    const out = path.join(path.dirname(outJson), `offline-${engine}-${precision}.jsonl`);
    const lines = fs.existsSync(out) ? fs.readFileSync(out, "utf8").split("\n").filter((l) => l.trim().startsWith("{")) : [];
    const parsed = lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
    row.files_out = parsed.filter((p) => !p.summary).length;
    row.transcripts = path.relative(process.cwd(), out);
    if (row.files_out !== clips.length) row.warning = `${tag} produced ${row.files_out} results for ${clips.length} clips`;
  }
  return row;
});

const ref = rows.find((r) => r.engine === "faster-whisper" && r.precision === "int8" && r.status === "ok");
for (const r of rows) if (r.status === "ok" && ref) {
  r.ratio_vs_fw_int8 = r.rtf / ref.rtf;
  r.best_ratio_vs_fw_int8 = r.best_rtf / ref.best_rtf;
}

// Which CPU class and kernel path produced these figures (issue 21): the helper shared with
// bench:capacity and the evaluation, from the build bin/chorus.js runs (dist/).
let cpu = null, cpuLine = "CPU class: unknown (dist/src/engine/cpu-class.js missing: npm run build)";
try {
  const { describeCpu, formatCpuLine } = await import("../dist/src/engine/cpu-class.js");
  cpu = await describeCpu();
  cpuLine = formatCpuLine(cpu);
  if (!cpu.kernels.startsWith("unknown")) {
    const { defaultPrecision } = await import("../dist/src/engine/whisper.js");
    cpu.defaultPrecision = defaultPrecision(cpu.kernels);
    cpuLine += `, chorus default precision ${cpu.defaultPrecision}`;
  }
} catch (err) {
  cpuLine = `CPU class: unknown (${err.message.split("\n")[0]})`;
}

const f = (x, d = 2) => (x === undefined ? "—" : x.toFixed(d));
const lines = [
  cpuLine,
  "",
  `Offline benchmark: set(s) ${sets}, ${clips.length} clips, ${audioS.toFixed(1)} s audio, model ${model}, ` +
    `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}). RTF = audio s / wall s (higher is faster); ` +
    `wall = whole process incl. model load; wall/RTF/ratio/RSS are medians over the runs, "best" uses the ` +
    `fastest run of each engine.`,
  "",
  "| engine | precision | threads | audio s | wall s | RTF | vs fw int8 | peak RSS MB | runs | best wall s | best RTF | best vs fw int8 |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const r of rows) {
  if (r.status === "ok")
    lines.push(`| ${r.engine} | ${r.precision} | ${r.threads} | ${f(r.audio_s, 1)} | ${f(r.wall_s)} | ${f(r.rtf)} | ` +
      `${f(r.ratio_vs_fw_int8)} | ${f(r.peak_rss_mb, 0)} | ${r.runs} | ${f(r.best_wall_s)} | ${f(r.best_rtf)} | ` +
      `${f(r.best_ratio_vs_fw_int8)} |`);
  else lines.push(`| ${r.engine} | ${r.precision} | ${r.threads} | ${f(r.audio_s, 1)} | ${r.status}: ${r.reason ?? ""} | | | | | | | |`);
}
for (const r of rows) if (r.warning) lines.push("", `warning: ${r.warning}`);
const skipped = rows.filter((r) => r.status !== "ok");
lines.push("", skipped.length ? `not measured: ${skipped.map((r) => `${r.engine} ${r.precision} (${r.status})`).join(", ")}`
  : "all engines measured");
console.log(lines.join("\n"));

fs.writeFileSync(outJson, JSON.stringify({
  date: new Date().toISOString(), sets, clips: clips.map((c) => c.id), audio_s: audioS, model, threads: Number(threads),
  host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, platform: `${os.platform()} ${os.arch()}`,
    node: process.version, openblas_coretype: process.env.OPENBLAS_CORETYPE ?? null, cpu },
  rtf_definition: "audio_s / wall_s (whole process incl. model load)", engines: rows,
}, null, 2) + "\n");
console.error(`wrote ${path.relative(process.cwd(), outJson)}`);
