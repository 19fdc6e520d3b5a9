/**
 * Which of a stream's channels a decoder turns into its mono samples: all of them averaged (a
 * single transcript), or one of them, by index from 0, for `multichannel=true`, where each
 * channel is a speaker of its own and gets a decoder and a session of its own.
 */
export type ChannelPick = 'mix' | number;

export const MIX_CHANNELS = 'mix';
