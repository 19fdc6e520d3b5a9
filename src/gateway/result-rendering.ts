/**
 * Session events in /v1/listen's message shapes, shared by every transport (WebSocket,
 * WebRTC DataChannel) so a client parses captions the same way whichever way the audio came.
 */
import type { ResultWord, SessionEvent } from '../stream/session-contract.js';
import type { ListenParams } from './protocol.js';
import {
  resultsMessage,
  speechStartedMessage,
  utteranceEndMessage,
  type ModelInfo,
  type ResultsMessage,
  type ServerMessage,
} from './protocol-messages.js';

export interface RenderingContext {
  requestId: string;
  model: ModelInfo;
  params: Pick<ListenParams, 'punctuate' | 'interimStability' | 'reportLag'>;
}

/** Without multichannel every message is about channel 0 of 1. */
export const SINGLE_CHANNEL = { channelIndex: 0, channelCount: 1 };

/**
 * The session reports how many consecutive hypotheses kept a word; the protocol promises a
 * probability that it survives. One hypothesis is a coin toss and each agreeing one halves
 * the doubt. Uncalibrated: to be fitted against measured revisions.
 */
function stabilityProbability(agreeingHypotheses: number): number {
  return 1 - 0.5 ** Math.max(1, agreeingHypotheses);
}

export function renderSessionEvent(event: SessionEvent, context: RenderingContext): ServerMessage {
  switch (event.type) {
    case 'speech_started':
      return speechStartedMessage({ ...SINGLE_CHANNEL, timestamp: event.timestamp });
    case 'utterance_end':
      return utteranceEndMessage({ ...SINGLE_CHANNEL, lastWordEnd: event.lastWordEnd });
    case 'results':
      return renderResults(event, context);
  }
}

export function renderResults(event: Extract<SessionEvent, { type: 'results' }>, context: RenderingContext): ResultsMessage {
  const { params } = context;
  const withStability = params.interimStability && !event.isFinal;
  return resultsMessage({
    requestId: context.requestId,
    model: context.model,
    ...SINGLE_CHANNEL,
    start: event.start,
    duration: event.duration,
    isFinal: event.isFinal,
    speechFinal: event.speechFinal,
    fromFinalize: event.fromFinalize,
    transcript: event.transcript,
    confidence: event.confidence,
    words: event.words.map((word: ResultWord) => ({
      text: word.word,
      start: word.start,
      end: word.end,
      confidence: word.confidence,
      ...(withStability && word.stability !== undefined ? { stability: stabilityProbability(word.stability) } : {}),
    })),
    punctuate: params.punctuate,
    ...(params.reportLag ? { lag: event.lag } : {}),
  });
}

/** What the transcript sink keeps of a final, whichever transport produced it. */
export function finalSinkRecord(message: ResultsMessage, requestId: string, modelName: string): Record<string, unknown> {
  return {
    time: new Date().toISOString(),
    request_id: requestId,
    model: modelName,
    start: message.start,
    duration: message.duration,
    transcript: message.channel.alternatives[0].transcript,
    speech_final: message.speech_final,
    from_finalize: message.from_finalize,
    words: message.channel.alternatives[0].words,
  };
}

/** What the log keeps of a final that never reached its client, so that it is not lost. */
export function undeliveredFinalFields(message: ResultsMessage, requestId: string): Record<string, unknown> {
  return {
    request_id: requestId,
    start: message.start,
    duration: message.duration,
    transcript: message.channel.alternatives[0].transcript,
  };
}
