/**
 * SubRip and WebVTT renderings of a transcript's segments, as OpenAI's transcription endpoint
 * returns them for `response_format=srt|vtt`: one cue per segment, hours always written.
 */
export interface TimedText {
  start: number;
  end: number;
  text: string;
}

function timestamp(seconds: number, fractionSeparator: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const hh = String(Math.floor(ms / 3_600_000)).padStart(2, '0');
  const mm = String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, '0');
  const ss = String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0');
  return `${hh}:${mm}:${ss}${fractionSeparator}${String(ms % 1000).padStart(3, '0')}`;
}

export function toSrt(cues: readonly TimedText[]): string {
  return cues
    .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${cue.text.trim()}\n\n`)
    .join('');
}

export function toVtt(cues: readonly TimedText[]): string {
  return 'WEBVTT\n\n' + cues.map((cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${cue.text.trim()}\n\n`).join('');
}
