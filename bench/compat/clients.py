#!/usr/bin/env python3
"""Python client compatibility bench (issue 17): real, unmodified client libraries against a
running Chorus gateway, each pointed at it by its documented base-URL option.

    bench/.venv/bin/python bench/compat/clients.py --port P --api-key KEY [--only NAME,...]

bench/compat-python.sh starts the gateway and runs this. One line per client and case:
PASS/FAIL, WER against the clip's reference text (the project's scorer,
dist/src/eval/wer.js, through node), the transcript, and the error if any. Writes the same as
JSON to --out. Exits 1 if any case failed.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import subprocess
import sys
import time
import traceback
import wave
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parents[2]
CLIP_ID = "jfk"
CLIP = ROOT / "test/fixtures/audio/jfk.wav"
MANIFEST = ROOT / "test/fixtures/audio/manifest.jsonl"
CHUNK_MS = 100
CASE_TIMEOUT_S = 90.0


@dataclass
class Result:
    client: str
    case: str
    ok: bool = False
    transcript: str = ""
    wer: float | None = None
    checks: list[str] = field(default_factory=list)  # what was verified besides the transcript
    error: str = ""
    request: str = ""  # what the client sent (URL / parameters), for failures
    seconds: float = 0.0
    scored: bool = True  # False for cases that send no speech (no WER)


def reference_text() -> str:
    for line in MANIFEST.read_text().splitlines():
        row = json.loads(line)
        if row["id"] == CLIP_ID:
            return row["text"]
    raise SystemExit(f"{CLIP_ID} not in {MANIFEST}")


def read_pcm() -> tuple[bytes, int]:
    with wave.open(str(CLIP)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, "jfk.wav must be mono 16-bit"
        return w.readframes(w.getnframes()), w.getframerate()


def chunks(pcm: bytes, rate: int) -> list[bytes]:
    step = rate * 2 * CHUNK_MS // 1000
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


async def paced(items: list[Any], send: Callable[[Any], Awaitable[None] | None]) -> None:
    """Calls send(item) every CHUNK_MS on an absolute schedule (real time, no drift)."""
    t0 = time.monotonic()
    for i, item in enumerate(items):
        delay = t0 + i * CHUNK_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        r = send(item)
        if asyncio.iscoroutine(r):
            await r


def join(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


# ---------------------------------------------------------------------------------------------
# deepgram-sdk


def dg_client(base_http: str, base_ws: str, key: str):
    from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment

    env = DeepgramClientEnvironment(base=base_http, production=base_ws, agent=base_ws, agent_rest=base_http)
    return AsyncDeepgramClient(api_key=key, environment=env)


async def deepgram_live(a, r: Result) -> None:
    from deepgram.listen.v1.types import ListenV1Results, ListenV1Metadata

    pcm, rate = read_pcm()
    client = dg_client(a.http, a.ws, a.api_key)
    params = dict(model="nova-3", encoding="linear16", sample_rate=str(rate), channels="1",
                  interim_results="true", punctuate="true")
    r.request = f"WS {a.ws}/v1/listen " + " ".join(f"{k}={v}" for k, v in params.items()) + \
        "; 100 ms linear16 chunks in real time, then Finalize, then CloseStream"
    finals: list[str] = []
    interims = 0
    seen: dict[str, int] = {}
    got_finalize = asyncio.Event()
    got_metadata = asyncio.Event()
    async with client.listen.v1.connect(**params) as sock:
        async def reader():
            nonlocal interims
            async for msg in sock:
                name = type(msg).__name__
                seen[name] = seen.get(name, 0) + 1
                if isinstance(msg, ListenV1Results):
                    text = msg.channel.alternatives[0].transcript if msg.channel.alternatives else ""
                    if msg.is_final:
                        finals.append(text)
                        if getattr(msg, "from_finalize", False):
                            got_finalize.set()
                    elif text:
                        interims += 1
                elif isinstance(msg, ListenV1Metadata):
                    got_metadata.set()
                elif name not in ("ListenV1SpeechStarted", "ListenV1UtteranceEnd"):
                    raise RuntimeError(f"unexpected message {msg!r}")

        task = asyncio.create_task(reader())
        await paced(chunks(pcm, rate), sock.send_media)
        await sock.send_finalize()
        await asyncio.wait_for(got_finalize.wait(), 20)
        await sock.send_close_stream()
        await asyncio.wait_for(got_metadata.wait(), 20)
        await asyncio.wait_for(task, 20)  # the server closes with 1000 after Metadata
    r.transcript = join(finals)
    r.checks = [f"{interims} interim", f"{len(finals)} final", "from_finalize", "Metadata", "closed"]
    if interims == 0:
        raise AssertionError("no interim results with interim_results=true")


async def deepgram_prerecorded(a, r: Result) -> None:
    client = dg_client(a.http, a.ws, a.api_key)
    body = CLIP.read_bytes()
    params = dict(model="nova-3", smart_format=True, punctuate=True, utterances=True)
    r.request = f"POST {a.http}/v1/listen " + " ".join(f"{k}={v}" for k, v in params.items()) + \
        f" body=jfk.wav ({len(body)} bytes)"
    resp = await client.listen.v1.media.transcribe_file(request=body, **params)
    alt = resp.results.channels[0].alternatives[0]
    r.transcript = alt.transcript
    words = alt.words or []
    utts = resp.results.utterances or []
    r.checks = [f"{len(words)} words", f"{len(utts)} utterances", f"duration {resp.metadata.duration}"]
    if not words:
        raise AssertionError("no words in results.channels[0].alternatives[0]")
    if not utts:
        raise AssertionError("utterances=true but no results.utterances")


async def deepgram_configure(a, r: Result) -> None:
    """The SDK's send_configure (Deepgram's newer in-session Configure message): the reply must be
    one the SDK's schema parses (ConfigureSuccess, ConfigureFailure or Error, the latter with the
    `variant` the schema requires), and the session must go on to Metadata after CloseStream."""
    from deepgram.listen.v1.types import ListenV1Configure, ListenV1Metadata

    client = dg_client(a.http, a.ws, a.api_key)
    params = dict(model="nova-3", encoding="linear16", sample_rate="16000")
    r.request = (f"WS {a.ws}/v1/listen " + " ".join(f"{k}={v}" for k, v in params.items()) +
                 '; send_configure({"type":"Configure","features":{"numerals":true}}), 1 s, CloseStream')
    r.scored = False
    typed: list[str] = []
    async with client.listen.v1.connect(**params) as sock:
        async def reader():
            async for msg in sock:
                typed.append(type(msg).__name__.replace("ListenV1", ""))
                if typed[-1] == "Error":
                    r.checks.append(f"Error variant={msg.variant} code={getattr(msg, 'code', None)}")
                if isinstance(msg, ListenV1Metadata):
                    return

        task = asyncio.create_task(reader())
        await sock.send_configure(ListenV1Configure(features={"numerals": True}))
        await asyncio.sleep(1.0)
        await sock.send_close_stream()
        await asyncio.wait_for(task, 20)
    r.checks.insert(0, "messages: " + " ".join(typed))
    if not any(t in ("ConfigureSuccess", "ConfigureFailure", "Error") for t in typed):
        raise AssertionError(f"no reply to Configure that the SDK parses (got {typed})")
    if "Metadata" not in typed:
        raise AssertionError("session did not reach Metadata")


# ---------------------------------------------------------------------------------------------
# openai


def oa_client(a):
    from openai import AsyncOpenAI

    return AsyncOpenAI(api_key=a.api_key, base_url=f"{a.http}/v1", max_retries=0, timeout=60)


async def openai_json(a, r: Result) -> None:
    client = oa_client(a)
    r.request = f"POST {a.http}/v1/audio/transcriptions model=whisper-1 response_format=json file=jfk.wav"
    with CLIP.open("rb") as f:
        resp = await client.audio.transcriptions.create(model="whisper-1", file=f, response_format="json")
    r.transcript = resp.text


async def openai_verbose_words(a, r: Result) -> None:
    client = oa_client(a)
    r.request = (f"POST {a.http}/v1/audio/transcriptions model=whisper-1 response_format=verbose_json "
                 "timestamp_granularities[]=word file=jfk.wav")
    with CLIP.open("rb") as f:
        resp = await client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word"])
    r.transcript = resp.text
    words = resp.words or []
    r.checks = [f"{len(words)} words", f"duration {resp.duration}", f"language {resp.language}"]
    if not words:
        raise AssertionError("verbose_json with timestamp_granularities=[word] has no words")
    if any(w.end < w.start for w in words) or any(b.start < a_.start for a_, b in zip(words, words[1:])):
        raise AssertionError("word times out of order")


async def openai_stream(a, r: Result) -> None:
    client = oa_client(a)
    r.request = f"POST {a.http}/v1/audio/transcriptions model=whisper-1 stream=true file=jfk.wav"
    deltas: list[str] = []
    done = None
    kinds: dict[str, int] = {}
    with CLIP.open("rb") as f:
        stream = await client.audio.transcriptions.create(model="whisper-1", file=f, stream=True)
        async for ev in stream:
            kinds[ev.type] = kinds.get(ev.type, 0) + 1
            if ev.type == "transcript.text.delta":
                deltas.append(ev.delta)
            elif ev.type == "transcript.text.done":
                done = ev.text
    r.checks = [f"{k} x{v}" for k, v in kinds.items()]
    if done is None:
        raise AssertionError(f"no transcript.text.done event (events: {kinds})")
    r.transcript = done
    if not deltas:
        raise AssertionError("no transcript.text.delta events")
    if "".join(deltas).strip() != done.strip():
        raise AssertionError(f"deltas {''.join(deltas)!r} differ from done text {done!r}")


async def wrong_key(a, r: Result) -> None:
    """The gateway runs with one API key: each SDK must get its own authentication error."""
    import openai
    from deepgram.core.api_error import ApiError

    r.scored = False
    bad = a.api_key + "-wrong"
    r.request = (f"POST {a.http}/v1/audio/transcriptions (Authorization: Bearer <wrong>) and "
                 f"POST {a.http}/v1/listen (Authorization: Token <wrong>)")
    body = CLIP.read_bytes()
    try:
        await oa_client(argparse.Namespace(**{**vars(a), "api_key": bad})).audio.transcriptions.create(
            model="whisper-1", file=("jfk.wav", body))
        raise AssertionError("openai: a wrong key was accepted")
    except openai.AuthenticationError as e:
        r.checks.append(f"openai AuthenticationError {e.status_code}")
    try:
        await dg_client(a.http, a.ws, bad).listen.v1.media.transcribe_file(request=body, model="nova-3")
        raise AssertionError("deepgram-sdk: a wrong key was accepted")
    except ApiError as e:
        if e.status_code != 401:
            raise AssertionError(f"deepgram-sdk: status {e.status_code}, expected 401: {e.body}")
        r.checks.append(f"deepgram-sdk ApiError {e.status_code}")


# ---------------------------------------------------------------------------------------------
# pipecat


async def pipecat_stt(a, r: Result) -> None:
    from pipecat.frames.frames import (ErrorFrame, InputAudioRawFrame, InterimTranscriptionFrame,
                                       TranscriptionFrame, VADUserStartedSpeakingFrame,
                                       VADUserStoppedSpeakingFrame)
    from pipecat.pipeline.worker import PipelineParams
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.tests.utils import SleepFrame, run_test

    pcm, rate = read_pcm()
    stt = DeepgramSTTService(api_key=a.api_key, base_url=a.ws)
    frames: list[Any] = [VADUserStartedSpeakingFrame()]
    for c in chunks(pcm, rate):
        frames += [InputAudioRawFrame(audio=c, sample_rate=rate, num_channels=1), SleepFrame(sleep=CHUNK_MS / 1000)]
    # pipecat sends Finalize on VADUserStoppedSpeakingFrame; its EndFrame sends CloseStream and
    # cancels the connection at once, so the finals must come from Finalize.
    frames += [VADUserStoppedSpeakingFrame(), SleepFrame(sleep=5.0)]
    def describe() -> str:  # the connect parameters as the service builds them (sample_rate set at start)
        kw = stt._build_connect_kwargs()
        return (f"DeepgramSTTService(base_url={a.ws}) defaults -> WS {a.ws}/v1/listen "
                f"{' '.join(f'{k}={v}' for k, v in kw.items())}; 100 ms InputAudioRawFrames, "
                "VADUserStoppedSpeakingFrame (Finalize), EndFrame (CloseStream)")

    try:
        down, up = await run_test(stt, frames_to_send=frames,
                                  pipeline_params=PipelineParams(audio_in_sample_rate=rate), start_timeout=15.0)
    finally:
        r.request = describe()
    finals = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    interims = [f for f in down if isinstance(f, InterimTranscriptionFrame)]
    errors = [f.error for f in list(down) + list(up) if isinstance(f, ErrorFrame)]
    r.transcript = join(finals)
    r.checks = [f"{len(interims)} InterimTranscriptionFrame", f"{len(finals)} TranscriptionFrame"]
    if errors:
        raise AssertionError(f"ErrorFrame: {errors}")
    if not finals:
        raise AssertionError("no TranscriptionFrame")


# ---------------------------------------------------------------------------------------------
# LiveKit plugin


async def livekit_stream(a, r: Result) -> None:
    import aiohttp
    from livekit import rtc
    from livekit.agents import stt as agents_stt
    from livekit.plugins import deepgram as lk_deepgram

    pcm, rate = read_pcm()
    base = f"{a.http}/v1/listen"
    finals: list[str] = []
    kinds: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        stt = lk_deepgram.STT(api_key=a.api_key, base_url=base, http_session=session)
        r.request = (f"STT(base_url={base}, api_key, http_session) with its defaults (model nova-3, "
                     "language en-US, interim_results, endpointing 25, vad_events, no_delay, filler_words); "
                     "stream(), 100 ms rtc.AudioFrames in real time, flush(), end_input()")
        stream = stt.stream()

        async def reader():
            async for ev in stream:
                kinds[ev.type.value] = kinds.get(ev.type.value, 0) + 1
                if ev.type == agents_stt.SpeechEventType.FINAL_TRANSCRIPT and ev.alternatives:
                    finals.append(ev.alternatives[0].text)

        task = asyncio.create_task(reader())

        def push(c: bytes):
            stream.push_frame(rtc.AudioFrame(data=c, sample_rate=rate, num_channels=1,
                                             samples_per_channel=len(c) // 2))

        await paced(chunks(pcm, rate), push)
        stream.flush()
        stream.end_input()
        try:
            await asyncio.wait_for(task, 30)
        finally:
            await stream.aclose()
            await stt.aclose()
    r.transcript = join(finals)
    r.checks = [f"{k} x{v}" for k, v in kinds.items()]
    if not finals:
        raise AssertionError(f"no FINAL_TRANSCRIPT (events: {kinds})")


CASES: list[tuple[str, str, Callable]] = [
    ("deepgram-sdk", "live linear16 16k, interim, Finalize, CloseStream", deepgram_live),
    ("deepgram-sdk", "prerecorded transcribe_file", deepgram_prerecorded),
    ("deepgram-sdk", "live send_configure (reply parsed by the SDK)", deepgram_configure),
    ("openai", "transcriptions json", openai_json),
    ("openai", "transcriptions verbose_json words", openai_verbose_words),
    ("openai", "transcriptions stream=True", openai_stream),
    ("openai + deepgram-sdk", "wrong API key refused", wrong_key),
    ("pipecat-ai", "DeepgramSTTService pipeline", pipecat_stt),
    ("livekit-plugins-deepgram", "STT.stream() defaults", livekit_stream),
]


def score(ref: str, results: list[Result]) -> None:
    """WER of each transcript by the project's scorer (normaliser included)."""
    results = [r for r in results if r.scored]
    pairs = [{"ref": ref, "hyp": r.transcript} for r in results]
    js = ("import { scoreWer } from './dist/src/eval/wer.js';"
          "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{"
          "const pairs=JSON.parse(s);"
          "console.log(JSON.stringify(pairs.map(p=>scoreWer([p]).wer)));});")
    out = subprocess.run(["node", "--input-type=module", "-e", js], input=json.dumps(pairs),
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    for r, w in zip(results, json.loads(out)):
        r.wer = w


async def run_case(a, r: Result, fn) -> None:
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(fn(a, r), CASE_TIMEOUT_S)
        r.ok = True
    except BaseException as e:  # noqa: BLE001 - a bench reports every failure and goes on
        if isinstance(e, KeyboardInterrupt):
            raise
        r.error = f"{type(e).__name__}: {e}".strip()
        body = getattr(e, "body", None)
        if body is not None and str(body) not in r.error:
            r.error += f" (body: {body})"
        if a.verbose:
            traceback.print_exc()
    r.seconds = round(time.monotonic() - t0, 1)


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for p in ("deepgram-sdk", "openai", "pipecat-ai", "livekit-plugins-deepgram", "livekit-agents",
              "livekit", "websockets", "aiohttp", "httpx"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = "-"
    return out


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--api-key", default="chorus-compat-key")
    ap.add_argument("--only", default="", help="comma list of client names or case-name substrings")
    ap.add_argument("--out", default=str(ROOT / "bench/out/compat-python.json"))
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    a.http = f"http://{a.host}:{a.port}"
    a.ws = f"ws://{a.host}:{a.port}"
    if not a.verbose:  # pipecat logs every frame link at DEBUG through loguru
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    only = [s.strip() for s in a.only.split(",") if s.strip()]

    ref = reference_text()
    results: list[Result] = []
    for client, case, fn in CASES:
        if only and not any(o == client or o in case for o in only):
            continue
        r = Result(client, case)
        await run_case(a, r, fn)
        results.append(r)
        print(f"  ... {client} / {case}: {'ok' if r.ok else 'FAILED'} ({r.seconds} s)", file=sys.stderr, flush=True)
    score(ref, results)

    print(f"reference ({CLIP_ID}): {ref}")
    for r in results:
        wer = "-" if r.wer is None else f"{r.wer:.3f}"
        line = f"{'PASS' if r.ok else 'FAIL'}  {r.client:26s} {r.case:52s} WER {wer}  \"{r.transcript}\""
        if r.checks:
            line += f"  [{', '.join(r.checks)}]"
        if r.error:
            line += f"\n      error: {r.error}\n      request: {r.request}"
        print(line)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"reference": ref, "clip": str(CLIP.relative_to(ROOT)),
                                       "versions": versions(), "results": [asdict(r) for r in results]},
                                      indent=2) + "\n")
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)}/{len(results)} passed; JSON: {a.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
