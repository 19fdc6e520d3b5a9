// Encoder / decoder-step timings of whisper.cpp through its public C API (whisper.h), for
// bench/peer-ops.py. Development only: built by bench/setup-whispercpp.sh against the peer's
// static libraries in bench/peers/whisper.cpp; never part of Chorus.
//
//   peer-ops-whispercpp MODEL THREADS PCM_F32LE REPS STEPS
//
// PCM: 16 kHz mono float32 (30 s), turned into log-mel by whisper.cpp itself. Encoder: one
// warm-up, then REPS timed whisper_encode calls of the 30 s window. Decoder (batch 1 only: the
// public API decodes one sequence of one window per call): a 3-token prompt
// (<|startoftranscript|>[<|en|><|transcribe|>]<|notimestamps|>), then STEPS single-token
// whisper_decode calls at positions 3, 4, ...; REPS such passes, each step timed. Prints one
// JSON object on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "whisper.h"

static double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

static void quiet(enum ggml_log_level, const char *, void *) {}

int main(int argc, char ** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODEL THREADS PCM_F32LE REPS STEPS\n", argv[0]);
    return 2;
  }
  const char * model = argv[1];
  const int threads = std::atoi(argv[2]);
  const int reps = std::max(1, std::atoi(argv[4]));
  const int steps = std::max(1, std::atoi(argv[5]));

  std::FILE * f = std::fopen(argv[3], "rb");
  if (!f) { std::perror(argv[3]); return 1; }
  std::vector<float> pcm;
  float buf[4096];
  size_t got;
  while ((got = std::fread(buf, sizeof(float), 4096, f)) > 0) pcm.insert(pcm.end(), buf, buf + got);
  std::fclose(f);

  whisper_log_set(quiet, nullptr);
  whisper_context_params cp = whisper_context_default_params();
  cp.use_gpu = false;
  const double t_load = now_ms();
  whisper_context * ctx = whisper_init_from_file_with_params(model, cp);
  if (!ctx) { std::fprintf(stderr, "cannot load %s\n", model); return 1; }
  const double load_ms = now_ms() - t_load;

  if (whisper_pcm_to_mel(ctx, pcm.data(), static_cast<int>(pcm.size()), threads) != 0) return 1;
  if (whisper_encode(ctx, 0, threads) != 0) return 1;  // warm-up
  std::vector<double> enc;
  for (int r = 0; r < reps; ++r) {
    const double t = now_ms();
    if (whisper_encode(ctx, 0, threads) != 0) return 1;
    enc.push_back(now_ms() - t);
  }

  std::vector<whisper_token> prompt = {whisper_token_sot(ctx)};
  if (whisper_is_multilingual(ctx)) {
    prompt.push_back(whisper_token_lang(ctx, 0));  // lang id 0 = en
    prompt.push_back(whisper_token_transcribe(ctx));
  }
  prompt.push_back(whisper_token_not(ctx));
  const whisper_token text_token = 262;  // an ordinary BPE token; timings do not depend on it
  std::vector<double> step_ms, pass_ms;
  for (int r = 0; r < reps + 1; ++r) {  // pass 0 warms up
    if (whisper_decode(ctx, prompt.data(), static_cast<int>(prompt.size()), 0, threads) != 0) return 1;
    const double t0 = now_ms();
    for (int s = 0; s < steps; ++s) {
      const double t = now_ms();
      if (whisper_decode(ctx, &text_token, 1, static_cast<int>(prompt.size()) + s, threads) != 0) return 1;
      if (r > 0) step_ms.push_back(now_ms() - t);
    }
    if (r > 0) pass_ms.push_back((now_ms() - t0) / steps);
  }

  std::printf("{\"engine\":\"whisper.cpp\",\"model\":\"%s\",\"threads\":%d,\"load_ms\":%.2f,"
              "\"encoder_ms\":[", model, threads, load_ms);
  for (size_t i = 0; i < enc.size(); ++i) std::printf("%s%.3f", i ? "," : "", enc[i]);
  std::printf("],\"encoder_ms_median\":%.3f,\"prompt_tokens\":%zu,\"decode_steps\":%d,"
              "\"decode_step_ms_b1_median\":%.4f,\"decode_step_ms_b1_pass_means\":[",
              median(enc), prompt.size(), steps, median(step_ms));
  for (size_t i = 0; i < pass_ms.size(); ++i) std::printf("%s%.4f", i ? "," : "", pass_ms[i]);
  std::printf("],\"system_info\":\"%s\"}\n", whisper_print_system_info());
  whisper_free(ctx);
  return 0;
}
