/**
 * OpenAI's streamed transcription (`stream=true` on `/v1/audio/transcriptions`): server-sent
 * events, `transcript.text.delta` events whose deltas add up to the text, then one
 * `transcript.text.done` with the whole text. Each event is a bare `data:` line holding the
 * JSON object, as OpenAI sends them and as its SDKs parse them (they read `type` from the data,
 * not from an `event:` line).
 *
 * The engine hands a file's segments over when the whole file is transcribed, so the deltas
 * (one per Whisper segment) all follow the transcription rather than arriving during it: a
 * client gets every event and the full text, only not earlier than without streaming.
 */
import type { ServerResponse } from 'node:http';
import type { Transcript } from '../engine/transcribe.js';

export type TranscriptStreamEvent = { type: 'transcript.text.delta'; delta: string } | { type: 'transcript.text.done'; text: string };

/** The events for a transcript, in order; the deltas concatenate to the done event's text. */
export function transcriptEvents(transcript: Transcript): TranscriptStreamEvent[] {
  const pieces = transcript.segments.map((s) => s.text);
  // Whisper starts every segment with a space; the text OpenAI answers with is trimmed.
  if (pieces.length > 0) {
    pieces[0] = pieces[0].trimStart();
    pieces[pieces.length - 1] = pieces[pieces.length - 1].trimEnd();
  }
  return [
    ...pieces.filter((delta) => delta !== '').map((delta): TranscriptStreamEvent => ({ type: 'transcript.text.delta', delta })),
    { type: 'transcript.text.done', text: pieces.join('') },
  ];
}

export function sendTranscriptEvents(response: ServerResponse, transcript: Transcript): void {
  response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
  for (const event of transcriptEvents(transcript)) response.write(`data: ${JSON.stringify(event)}\n\n`);
  response.end();
}
