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
  params: Pick<ListenParams, 'punctuate' | 'interimStability' | 'reportLag' | 'diarize'>;
}

/** Which of a stream's separately transcribed channels a message is about. */
export interface ChannelRef {
  channelIndex: number;
  channelCount: number;
}

/** Without multichannel every message is about channel 0 of 1. */
export const SINGLE_CHANNEL: ChannelRef = { channelIndex: 0, channelCount: 1 };

/**
 * The session reports how many consecutive hypotheses kept a word; the protocol promises a
 * probability that it survives. One hypothesis is a coin toss and each agreeing one halves
 * the doubt. Uncalibrated: to be fitted against measured revisions.
 */
function stabilityProbability(agreeingHypotheses: number): number {
  return 1 - 0.5 ** Math.max(1, agreeingHypotheses);
}

export function renderSessionEvent(event: SessionEvent, context: RenderingContext, channel: ChannelRef = SINGLE_CHANNEL): ServerMessage {
  switch (event.type) {
    case 'speech_started':
      return speechStartedMessage({ ...channel, timestamp: event.timestamp });
    case 'utterance_end':
      return utteranceEndMessage({ ...channel, lastWordEnd: event.lastWordEnd });
    case 'results':
      return renderResults(event, context, channel);
  }
}

export function renderResults(
  event: Extract<SessionEvent, { type: 'results' }>,
  context: RenderingContext,
  channel: ChannelRef = SINGLE_CHANNEL,
): ResultsMessage {
  const { params } = context;
  const withStability = params.interimStability && !event.isFinal;
  // A multichannel stream's channels are its speakers (diarize is true only with multichannel).
  const speaker = params.diarize ? { speaker: channel.channelIndex } : {};
  return resultsMessage({
    requestId: context.requestId,
    model: context.model,
    ...channel,
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
      ...speaker,
    })),
    punctuate: params.punctuate,
    ...(params.reportLag ? { lag: event.lag } : {}),
  });
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
