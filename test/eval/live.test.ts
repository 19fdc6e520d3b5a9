import { describe, expect, it } from 'vitest';
import { chainClips, lostWords, scoreLive, type LiveClip, type StreamResult } from '../../src/eval/live.js';

const clip = (id: string, set: string, seconds: number, text: string, offline = text): LiveClip => ({
  id,
  set,
  text,
  offline,
  samples: new Float32Array(seconds * 16000).fill(0.1),
});

describe('the live evaluation', () => {
  it('chains clips of one set at a time, a second of silence between them', () => {
    const clips = [clip('a1', 'a', 1, 'one'), clip('a2', 'a', 2, 'two'), clip('a3', 'a', 1, 'three'), clip('b1', 'b', 1, 'four')];
    const streams = chainClips(clips, 2);
    expect(streams.map((s) => s.ids)).toEqual([['a1', 'a2'], ['a3'], ['b1']]);
    expect(streams[0].pcm.length).toBe((1 + 1 + 2) * 16000);
    expect(streams[0].pcm.subarray(16000, 32000).every((x) => x === 0)).toBe(true);
    expect(streams[0].ref).toBe('one two');
  });

  it('counts as lost the words offline wrote and the finals lack, not the ones they changed', () => {
    expect(lostWords('think write and teach as I do', 'think write')).toBe(5);
    expect(lostWords('think write and teach', 'think right and teach')).toBe(0);
    expect(lostWords('Hello, world.', 'hello world')).toBe(0);
  });

  it('scores the finals against the reference beside offline, and flags streams that lost 3 or more words', () => {
    const [stream] = chainClips([clip('c', 'set', 1, 'ask not what your country can do', 'ask not what your country can do')], 1);
    const result: StreamResult = { stream, finals: ['ask not', 'what your'], latencies: [0.4, 0.6, 0.5, 1.2] };
    const score = scoreLive([result]);
    expect(score.offline.wer).toBe(0);
    expect(score.live.wer).toBeCloseTo(3 / 7);
    expect(score.gapPoints).toBeCloseTo((3 / 7) * 100);
    expect(score.lostWords).toBe(3);
    expect(score.defects.map((d) => d.lost)).toEqual([3]);
    expect(score.wordsPerFinal).toBe(2);
    expect(score.latencyP50S).toBe(0.6);
    expect(score.latencyP95S).toBe(1.2);
  });
});
