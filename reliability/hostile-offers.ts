// WebRTC offers that cost the server before their sender has proved anything: a browser-like
// offer from a peer that will never connect, and candidates of the sender's choosing. Shared by
// the WHIP limit tests (test/gateway/whip-limits.test.ts) and the reliability suite.
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';

/**
 * A browser-like offer (an Opus track and a DataChannel) whose peer will never connect; the
 * caller closes `pc`.
 */
export async function silentOffer(): Promise<{ pc: RTCPeerConnection; sdp: string }> {
  const pc = new RTCPeerConnection({ codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] } });
  pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
  pc.createDataChannel('captions');
  await pc.setLocalDescription(await pc.createOffer());
  return { pc, sdp: pc.localDescription!.sdp };
}

/** An SDP host candidate line for `address`:`port`. */
export const candidateLine = (address: string, port: number): string => `a=candidate:1 1 udp 2130706431 ${address} ${port} typ host`;

/** The offer with `lines` added to its audio section. */
export function withCandidates(sdp: string, lines: readonly string[]): string {
  return sdp.replace(/(m=audio[^\r\n]*\r\n)/, `$1${lines.join('\r\n')}\r\n`);
}

/** POST /v1/whip with an offer. */
export function postOffer(baseUrl: string, sdp: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}/v1/whip`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...headers }, body: sdp });
}
