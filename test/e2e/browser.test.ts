// The browser demo in a real browser: Debian's chromium (never a downloaded one) driven by
// playwright-core, its fake microphone playing a speech clip, the demo served by a real
// gateway with tiny.en. Each transport is started in turn and its final captions are scored
// against the clip's transcript; a screenshot of each run is kept in test-artifacts/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { resample } from '../../src/audio/resample.js';
import { scoreWer } from '../../src/eval/wer.js';
import { repoRoot } from '../../src/paths.js';
import { startTinyGateway, type TinyGateway } from '../tiny-gateway.js';
import { wavBytes } from '../../loadtest/audio-frames.js';
import { fixture } from '../helpers.js';

const CHROMIUM = process.env.CHORUS_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(repoRoot(), 'test-artifacts');
const CLIP = fixture('jfk');
/** Captured speech loses a little to the browser's audio processing and resampling. */
const MAX_WER = 0.25;
const TRANSPORTS = ['websocket-pcm', 'websocket-opus', 'webrtc'] as const;

let gateway: TinyGateway;
let baseUrl: string;
let browser: Browser;
let scratch: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set CHORUS_CHROMIUM`);
  }
  scratch = mkdtempSync(join(tmpdir(), 'chorus-browser-'));
  // Chromium's fake capture device reads a WAV; a second of silence first lets capture settle.
  const audio = await loadAudioFile(CLIP.path);
  const padded = new Float32Array(16000 + audio.samples.length);
  padded.set(audio.samples, 16000);
  const wav = join(scratch, 'speech.wav');
  writeFileSync(wav, wavBytes(resample(padded, 16000, 48000), 48000));

  gateway = await startTinyGateway({ maxSessions: 2 });
  baseUrl = gateway.url;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      // %noloop: play the clip once per capture instead of repeating it.
      `--use-file-for-fake-audio-capture=${wav}%noloop`,
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function captionsFor(page: Page, transport: string, finals = 'early'): Promise<string> {
  await page.goto(baseUrl);
  await page.check(`input[value="${transport}"]`);
  await page.check(`input[name="finals"][value="${finals}"]`);
  await page.click('#start');
  await page.waitForSelector('#state[data-state="live"]', { timeout: 20_000 });
  // The clip, its lead-in, and a little for the last words to be heard.
  await page.waitForTimeout((CLIP.duration_s + 2) * 1000);
  await page.click('#stop');
  await page.waitForSelector('#state[data-state="closed"]', { timeout: 30_000 });
  const errorShown = await page.isVisible('#error');
  if (errorShown) throw new Error(`the page shows an error: ${await page.textContent('#error-text')}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `browser-${transport}-${finals}.png`), fullPage: true });
  // Caption lines hold the finals' text, then the interim and a latency badge, which are not.
  return page.$$eval('#finals .line', (lines) =>
    lines.map((line) => [...line.querySelectorAll('.final')].map((f) => f.textContent ?? '').join('').trim()).join(' '),
  );
}

describe('the browser demo with a fake microphone', () => {
  for (const transport of TRANSPORTS) {
    it(`captions the clip over ${transport}`, async () => {
      const page = await browser.newPage();
      const consoleErrors: string[] = [];
      page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
      try {
        const text = await captionsFor(page, transport);
        const wer = scoreWer([{ ref: CLIP.text, hyp: text }]).wer!;
        expect(text, `console errors: ${consoleErrors.join('; ')}`).not.toBe('');
        expect(wer, `captions: ${text}`).toBeLessThanOrEqual(MAX_WER);
      } finally {
        await page.close();
      }
    });
  }

  it('captions the clip a sentence at a time when asked for finals per utterance', async () => {
    const page = await browser.newPage();
    try {
      const text = await captionsFor(page, 'websocket-pcm', 'utterance');
      expect(scoreWer([{ ref: CLIP.text, hyp: text }]).wer!, `captions: ${text}`).toBeLessThanOrEqual(MAX_WER);
      // Each caption line is one final: its words became final together at its end.
      const finalsPerLine = await page.$$eval('#finals .line', (lines) => lines.map((line) => line.querySelectorAll('.final').length));
      expect(finalsPerLine.length).toBeGreaterThan(0);
      expect(finalsPerLine.every((n) => n === 1)).toBe(true);
    } finally {
      await page.close();
    }
  });
});
