// What a load level asked of the device, read from the gateway's own /metrics before and
// after the level: device time per second of audio received (encoder and decoder apart), how
// busy the device was, and the mean decoder batch. Capacity is device time divided among
// streams, so these say why a mode's capacity is what it is: batching can only shrink the
// part that it batches.

/** The cumulative counters of one /metrics scrape that the usage is computed from. */
export interface DeviceCounters {
  audioSeconds: number;
  encodeSeconds: number;
  decodeSeconds: number;
  decodeCalls: number;
  /** hypotheses decoded, summed over decoder calls */
  decodeHypotheses: number;
}

export interface DeviceUsage {
  /** device time of encoder runs per second of audio received, ms */
  encodeMsPerAudioS: number;
  /** device time of decoder calls per second of audio received, ms */
  decodeMsPerAudioS: number;
  /** share of the level's wall time the device was executing a step */
  busy: number;
  meanDecodeBatch: number | null;
}

function sample(text: string, name: string): number {
  // Prometheus text format: `name{labels} value`, one sample per line; a missing series is 0
  // (a counter that has not moved since start is still exported, but a labelled child
  // appears only once observed).
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ')) {
      const value = Number(line.slice(name.length + 1).trim());
      if (!Number.isFinite(value)) throw new Error(`metrics: ${name} is not a number: ${JSON.stringify(line)}`);
      return value;
    }
  }
  return 0;
}

export function deviceCounters(metricsText: string): DeviceCounters {
  return {
    audioSeconds: sample(metricsText, 'chorus_audio_seconds_total'),
    encodeSeconds: sample(metricsText, 'chorus_engine_step_seconds_sum{kind="encode"}'),
    decodeSeconds: sample(metricsText, 'chorus_engine_step_seconds_sum{kind="decode"}'),
    decodeCalls: sample(metricsText, 'chorus_engine_batch_size_count'),
    decodeHypotheses: sample(metricsText, 'chorus_engine_batch_size_sum'),
  };
}

/** Usage between two scrapes `wallS` seconds apart; null when no audio arrived in between. */
export function deviceUsage(before: DeviceCounters, after: DeviceCounters, wallS: number): DeviceUsage | null {
  const audioS = after.audioSeconds - before.audioSeconds;
  if (!(audioS > 0) || !(wallS > 0)) return null;
  const encodeS = after.encodeSeconds - before.encodeSeconds;
  const decodeS = after.decodeSeconds - before.decodeSeconds;
  const calls = after.decodeCalls - before.decodeCalls;
  return {
    encodeMsPerAudioS: (encodeS * 1000) / audioS,
    decodeMsPerAudioS: (decodeS * 1000) / audioS,
    busy: (encodeS + decodeS) / wallS,
    meanDecodeBatch: calls > 0 ? (after.decodeHypotheses - before.decodeHypotheses) / calls : null,
  };
}

export async function scrapeDeviceCounters(httpBase: string): Promise<DeviceCounters> {
  const response = await fetch(`${httpBase}/metrics`);
  if (!response.ok) throw new Error(`GET ${httpBase}/metrics: HTTP ${response.status}`);
  return deviceCounters(await response.text());
}
