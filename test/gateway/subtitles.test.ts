import { describe, expect, it } from 'vitest';
import { toSrt, toVtt } from '../../src/gateway/subtitles.js';

const cues = [
  { start: 0, end: 2.5, text: ' Hello there.' },
  { start: 3661.0016, end: 3662, text: ' Later.' },
];

describe('subtitles', () => {
  it('writes SubRip with comma milliseconds and numbered cues', () => {
    expect(toSrt(cues)).toBe('1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,002 --> 01:01:02,000\nLater.\n\n');
  });

  it('writes WebVTT with a header and dot milliseconds', () => {
    expect(toVtt(cues)).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n01:01:01.002 --> 01:01:02.000\nLater.\n\n');
  });
});
