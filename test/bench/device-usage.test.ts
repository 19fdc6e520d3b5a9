import { describe, expect, it } from 'vitest';
import { deviceCounters, deviceUsage } from '../../bench/device-usage.js';

// A scrape as prom-client writes it (trimmed to the series read and a few neighbours).
const before = `# HELP chorus_audio_seconds_total Seconds of live audio received and decoded
# TYPE chorus_audio_seconds_total counter
chorus_audio_seconds_total 100
chorus_engine_batch_size_bucket{le="+Inf"} 40
chorus_engine_batch_size_sum 80
chorus_engine_batch_size_count 40
chorus_engine_step_seconds_bucket{le="+Inf",kind="encode"} 10
chorus_engine_step_seconds_sum{kind="encode"} 1.5
chorus_engine_step_seconds_count{kind="encode"} 10
chorus_engine_step_seconds_sum{kind="decode"} 2
chorus_engine_step_seconds_count{kind="decode"} 40
`;
const after = before
  .replace('chorus_audio_seconds_total 100', 'chorus_audio_seconds_total 1100')
  .replace('chorus_engine_batch_size_sum 80', 'chorus_engine_batch_size_sum 380')
  .replace('chorus_engine_batch_size_count 40', 'chorus_engine_batch_size_count 140')
  .replace('_sum{kind="encode"} 1.5', '_sum{kind="encode"} 11.5')
  .replace('_sum{kind="decode"} 2', '_sum{kind="decode"} 32');

describe('device usage from the gateway metrics', () => {
  it('reads the cumulative counters of a scrape, by exact series name', () => {
    expect(deviceCounters(before)).toEqual({ audioSeconds: 100, encodeSeconds: 1.5, decodeSeconds: 2, decodeCalls: 40, decodeHypotheses: 80 });
  });

  it('divides device time by the audio received between two scrapes, and by the wall time for busy', () => {
    const usage = deviceUsage(deviceCounters(before), deviceCounters(after), 80)!;
    expect(usage.encodeMsPerAudioS).toBeCloseTo(10);
    expect(usage.decodeMsPerAudioS).toBeCloseTo(30);
    expect(usage.busy).toBeCloseTo(0.5);
    expect(usage.meanDecodeBatch).toBeCloseTo(3);
  });

  it('has no figure for a level that received no audio, and series never observed count as zero', () => {
    const fresh = deviceCounters('chorus_audio_seconds_total 0\n');
    expect(fresh).toEqual({ audioSeconds: 0, encodeSeconds: 0, decodeSeconds: 0, decodeCalls: 0, decodeHypotheses: 0 });
    expect(deviceUsage(fresh, fresh, 60)).toBeNull();
    expect(deviceUsage(fresh, { ...fresh, audioSeconds: 10 }, 60)?.meanDecodeBatch).toBeNull();
  });

  it('rejects a series whose value is not a number', () => {
    expect(() => deviceCounters('chorus_audio_seconds_total lots\n')).toThrow(/not a number/);
  });
});
