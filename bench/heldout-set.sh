#!/usr/bin/env bash
# Builds a held-out evaluation set: speech that ../shared/eval does not have and that no policy
# was tuned on, in ../shared/eval's layout (manifest.jsonl + audio/), so every evaluation reads
# it through CHORUS_EVAL_DIR:
#
#   bash bench/heldout-set.sh [OUT]            # default OUT: bench/out/heldout
#   CHORUS_EVAL_DIR=bench/out/heldout npm run eval -- --live --sets librispeech-test-other
#
# What it holds: LibriSpeech test-other readers 533, 2609 and 3005 (utterances 0000-0009 of one
# chapter each, 30 clips, 3.7 min), the three readers of resemble-ai/Resemblyzer's 100-clip
# sample that ../shared/eval left out (it took the other seven). Audio from
# github:resemble-ai/Resemblyzer@15d828ed, references from
# github:facebookresearch/fbai-speech@43cdb3ca (the official LibriSpeech text, lower-cased
# there, upper-cased here as ../shared/eval does). LibriSpeech is CC BY 4.0 (Vassil Panayotov
# et al., openslr.org/12); each manifest line carries its source and licence.
#
# Development only: it needs git, ffmpeg and the network (or RESEMBLYZER_GIT / FBAI_SPEECH_GIT
# pointing at existing clones), and nothing at run time or in CI reads it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out/heldout}"
readers=(533 2609 3005)
resemblyzer_commit=15d828edebe06bc72b9cabc8ef8ca5ab2cb457ce
fbai_commit=43cdb3ca9644a755d5c6cc55cbcc91132f85ed44

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A bare clone at the pinned commit: existing clone if given, else GitHub.
checkout() { # name url commit existing
  local dir="$work/$1"
  if [[ -n "${4:-}" ]]; then dir="$4"; else git clone -q --bare --filter=blob:none "$2" "$dir"; fi
  git -C "$dir" cat-file -e "$3^{commit}"
  echo "$dir"
}
resemblyzer="$(checkout resemblyzer https://github.com/resemble-ai/Resemblyzer.git "$resemblyzer_commit" "${RESEMBLYZER_GIT:-}")"
fbai="$(checkout fbai https://github.com/facebookresearch/fbai-speech.git "$fbai_commit" "${FBAI_SPEECH_GIT:-}")"

mkdir -p "$out/audio/librispeech-test-other"
git -C "$fbai" show "$fbai_commit:is21_deep_bias/ref/test-other.biasing_100.tsv" > "$work/refs.tsv"
: > "$work/clips.tsv"
for reader in "${readers[@]}"; do
  git -C "$resemblyzer" ls-tree -r --name-only "$resemblyzer_commit" "audio_data/librispeech_test-other/$reader" | grep '\.flac$' |
    while read -r path; do
      id="$(basename "$path" .flac)"
      git -C "$resemblyzer" show "$resemblyzer_commit:$path" > "$work/$id.flac"
      ffmpeg -nostdin -loglevel error -y -i "$work/$id.flac" -ar 16000 -ac 1 -c:a pcm_s16le "$out/audio/librispeech-test-other/$id.wav"
      printf '%s\t%s\n' "$id" "$path" >> "$work/clips.tsv"
    done
done

node - "$work/clips.tsv" "$work/refs.tsv" "$out" "${resemblyzer_commit:0:12}" "${fbai_commit:0:12}" <<'EOF'
const { readFileSync, writeFileSync } = require('node:fs');
const [clipsTsv, refsTsv, out, resemblyzer, fbai] = process.argv.slice(2);
const refs = new Map(readFileSync(refsTsv, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')).map(([id, text]) => [id, text]));
const lines = readFileSync(clipsTsv, 'utf8').split('\n').filter(Boolean).sort().map((line) => {
  const [id, source] = line.split('\t');
  const text = refs.get(id);
  if (text === undefined) throw new Error(`no reference for ${id}`);
  const path = `audio/librispeech-test-other/${id}.wav`;
  const wav = readFileSync(`${out}/${path}`);
  const data = wav.indexOf('data', 12, 'latin1');
  const durationS = wav.readUInt32LE(data + 4) / 2 / 16000;
  return JSON.stringify({
    id, set: 'librispeech-test-other', path, duration_s: durationS, sample_rate: 16000, text: text.toUpperCase(), language: 'en',
    source: `audio: github:resemble-ai/Resemblyzer@${resemblyzer}:${source}; transcript: github:facebookresearch/fbai-speech@${fbai}:is21_deep_bias/ref/test-other.biasing_100.tsv (upper-cased)`,
    license: 'CC BY 4.0 (LibriSpeech ASR corpus (c) 2014 Vassil Panayotov et al., openslr.org/12; derived from public-domain LibriVox recordings)',
  });
});
writeFileSync(`${out}/manifest.jsonl`, lines.join('\n') + '\n');
console.log(`${lines.length} held-out clips in ${out}`);
EOF
