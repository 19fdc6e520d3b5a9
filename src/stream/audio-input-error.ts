/**
 * The one error type for audio a client streams to us, so the gateway can map `code` straight
 * to a close reason without parsing messages. Messages name what was expected and what came,
 * because the reader is a client developer looking at a close frame, not at our logs.
 */

export type AudioInputErrorCode = 'malformed_audio' | 'unsupported_encoding' | 'bad_sample_rate' | 'bad_channels';

export class AudioInputError extends Error {
  override readonly name = 'AudioInputError';

  constructor(
    readonly code: AudioInputErrorCode,
    message: string,
  ) {
    super(message);
  }
}
