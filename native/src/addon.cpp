// N-API surface: a handful of batched operations over integer handles. JavaScript checks and
// builds the arguments; this file copies them into plain structs on the main thread; the
// device thread only sees those structs; results come back through a thread-safe function.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "chorus/kernels.h"
#include "device_thread.h"

namespace chorus {
namespace {

struct Job {
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  std::vector<Napi::ObjectReference> keep_alive;  // inputs and outputs the device reads or writes
  std::function<void()> work;                     // device thread
  std::function<Napi::Value(Napi::Env)> result;   // main thread, after work succeeded
  std::function<void()> finally;                  // main thread, after work either way
  std::string error;
};

template <typename T> constexpr napi_typedarray_type kArrayType = napi_float32_array;
template <> constexpr napi_typedarray_type kArrayType<int32_t> = napi_int32_array;

template <typename T>
T* typed_data(const Napi::Value& v, const char* what, size_t* length) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kArrayType<T>) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + (kArrayType<T> == napi_int32_array
                                                                  ? " must be an Int32Array"
                                                                  : " must be a Float32Array"));
  }
  auto a = v.As<Napi::TypedArrayOf<T>>();
  *length = a.ElementLength();
  return a.Data();
}

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod<&Engine::Load>("load"),
                        InstanceMethod<&Engine::Info>("info"),
                        InstanceMethod<&Engine::CreateWindow>("createWindow"),
                        InstanceMethod<&Engine::ReleaseWindow>("releaseWindow"),
                        InstanceMethod<&Engine::CreateSession>("createSession"),
                        InstanceMethod<&Engine::ForkSession>("forkSession"),
                        InstanceMethod<&Engine::ReleaseSession>("releaseSession"),
                        InstanceMethod<&Engine::LogMel>("logMel"),
                        InstanceMethod<&Engine::Encode>("encode"),
                        InstanceMethod<&Engine::Decode>("decode"),
                        InstanceMethod<&Engine::Close>("close")});
  }

  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    auto noop = Napi::Function::New(info.Env(), [](const Napi::CallbackInfo&) {});
    tsfn_ = Napi::ThreadSafeFunction::New(info.Env(), noop, "chorus-device", 0, 1);
    tsfn_.Unref(info.Env());
    device_ = std::make_unique<DeviceThread>();
  }

  ~Engine() override { shutdown(); }

 private:
  void shutdown() {
    if (closed_) return;
    closed_ = true;
    device_->stop();
    tsfn_.Release();
  }

  void require_open(Napi::Env env) const {
    if (closed_) throw Napi::Error::New(env, "engine is closed");
  }
  void require_loaded(Napi::Env env) const {
    require_open(env);
    if (!backend_) throw Napi::Error::New(env, "engine has no model loaded");
  }

  Napi::Value submit(const Napi::CallbackInfo& info, std::unique_ptr<Job> job) {
    auto env = info.Env();
    auto promise = job->deferred.Promise();
    job->keep_alive.push_back(Napi::Persistent(info.This().As<Napi::Object>()));
    if (pending_++ == 0) tsfn_.Ref(env);
    Job* raw = job.release();
    device_->submit([this, raw] {
      try {
        raw->work();
      } catch (const std::exception& e) {
        raw->error = e.what();
        if (raw->error.empty()) raw->error = "device operation failed";
      }
      tsfn_.BlockingCall(raw, [this](Napi::Env env, Napi::Function, Job* done) {
        std::unique_ptr<Job> owned(done);
        if (--pending_ == 0 && !closed_) tsfn_.Unref(env);
        if (owned->finally) owned->finally();
        if (!owned->error.empty()) {
          owned->deferred.Reject(Napi::Error::New(env, owned->error).Value());
          return;
        }
        try {
          owned->deferred.Resolve(owned->result ? owned->result(env) : env.Undefined());
        } catch (const Napi::Error& e) {
          owned->deferred.Reject(e.Value());
        }
      });
    });
    return promise;
  }

  // load(modelDir, {threads, precision?: 'fp32' | 'bf16' | 'int8' | 'int8-encoder', maxWindows, maxSessions, kvBudgetBytes?, streamWindows?, streamSessions?,
  //                 alignmentHeads?: Int32Array [layer, head, ...]}) -> Promise<info>
  Napi::Value Load(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    require_open(env);
    if (backend_ || loading_) throw Napi::Error::New(env, "engine already has a model");
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "load: model directory must be a string");
    BackendOptions options;
    if (info[1].IsObject()) {
      auto o = info[1].As<Napi::Object>();
      auto int_opt = [&](const char* key, int& out) {
        if (o.Has(key) && o.Get(key).IsNumber()) out = o.Get(key).As<Napi::Number>().Int32Value();
      };
      int_opt("threads", options.threads);
      int_opt("maxWindows", options.max_windows);
      int_opt("maxSessions", options.max_sessions);
      int_opt("streamWindows", options.stream_windows);
      int_opt("streamSessions", options.stream_sessions);
      int_opt("maxStreamingWindows", options.max_streaming_windows);
      int_opt("streamStreamingWindows", options.stream_streaming_windows);
      int_opt("textTokens", options.text_tokens);
      if (o.Has("precision") && !o.Get("precision").IsUndefined()) {
        const Napi::Value p = o.Get("precision");
        const std::string name = p.IsString() ? p.As<Napi::String>().Utf8Value() : std::string();
        if (!parse_model_precision(name, &options.precision)) {
          throw Napi::RangeError::New(env, "load: precision must be 'fp32', 'bf16', 'int8' or 'int8-encoder'");
        }
      }
      if (o.Has("kvBudgetBytes") && o.Get("kvBudgetBytes").IsNumber()) {
        const double bytes = o.Get("kvBudgetBytes").As<Napi::Number>().DoubleValue();
        if (!(bytes >= 0)) throw Napi::RangeError::New(env, "load: kvBudgetBytes must be a non-negative number");
        options.kv_budget_bytes = static_cast<size_t>(bytes);
      }
      if (o.Has("alignmentHeads")) {
        size_t n = 0;
        const int32_t* pairs = typed_data<int32_t>(o.Get("alignmentHeads"), "alignmentHeads", &n);
        if (n % 2 != 0) throw Napi::RangeError::New(env, "load: alignmentHeads must hold [layer, head] pairs");
        for (size_t k = 0; k < n; k += 2) options.alignment_heads.emplace_back(pairs[k], pairs[k + 1]);
      }
    }
    loading_ = true;
    auto job = std::make_unique<Job>(env);
    auto dir = info[0].As<Napi::String>().Utf8Value();
    auto loaded = std::make_shared<std::unique_ptr<Backend>>();
    job->work = [dir, options, loaded] { *loaded = make_cpu_backend(dir, options); };
    job->finally = [this] { loading_ = false; };  // a failed load leaves the engine able to retry
    job->result = [this, loaded](Napi::Env env) -> Napi::Value {
      backend_ = std::move(*loaded);
      return Info(env);
    };
    return submit(info, std::move(job));
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    require_loaded(info.Env());
    return Info(info.Env());
  }

  Napi::Value Info(Napi::Env env) {
    const auto& d = backend_->dims();
    const auto stats = backend_->pool_stats();
    auto o = Napi::Object::New(env);
    o.Set("nMels", d.n_mels);
    o.Set("nAudioCtx", d.n_audio_ctx);
    o.Set("nState", d.n_state);
    o.Set("nHead", d.n_head);
    o.Set("nAudioLayer", d.n_audio_layer);
    o.Set("nTextLayer", d.n_text_layer);
    o.Set("nTextCtx", d.n_text_ctx);
    o.Set("nVocab", d.n_vocab);
    o.Set("nAlignmentHeads", backend_->alignment_head_count());
    o.Set("device", backend_->device_name());
    o.Set("isa", kernels::isa_name(kernels::active_isa()));
    o.Set("weightBytes", static_cast<double>(backend_->weight_bytes()));
    o.Set("precision", backend_->precision().name);
    o.Set("maxWindows", stats.max_windows);
    o.Set("windowsInUse", stats.windows_in_use);
    o.Set("maxSessions", stats.max_sessions);
    o.Set("sessionsInUse", stats.sessions_in_use);
    o.Set("windowBytes", static_cast<double>(stats.window_bytes));
    o.Set("maxStreamingWindows", stats.max_streaming_windows);
    o.Set("streamingWindowsInUse", stats.streaming_windows_in_use);
    o.Set("streamingWindowBytes", static_cast<double>(stats.streaming_window_bytes));
    o.Set("sessionBytes", static_cast<double>(stats.session_bytes));
    return o;
  }

  static int handle_arg(const Napi::CallbackInfo& info, int index, const char* what) {
    if (!info[index].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
    return info[index].As<Napi::Number>().Int32Value();
  }

  template <typename Fn>
  Napi::Value guarded(Napi::Env env, Fn&& fn) {
    try {
      return fn();
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Napi::Value CreateWindow(const Napi::CallbackInfo& info) {
    require_loaded(info.Env());
    const bool streaming = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
    return Napi::Number::New(info.Env(), backend_->create_window(streaming));
  }

  Napi::Value CreateSession(const Napi::CallbackInfo& info) {
    require_loaded(info.Env());
    const int window = handle_arg(info, 0, "window");
    return guarded(info.Env(), [&] { return Napi::Number::New(info.Env(), backend_->create_session(window)); });
  }

  // Releases run on the device thread, after any queued work that still uses the handle.
  Napi::Value ReleaseWindow(const Napi::CallbackInfo& info) {
    require_loaded(info.Env());
    const int window = handle_arg(info, 0, "window");
    auto job = std::make_unique<Job>(info.Env());
    job->work = [this, window] { backend_->release_window(window); };
    return submit(info, std::move(job));
  }

  Napi::Value ReleaseSession(const Napi::CallbackInfo& info) {
    require_loaded(info.Env());
    const int session = handle_arg(info, 0, "session");
    auto job = std::make_unique<Job>(info.Env());
    job->work = [this, session] { backend_->release_session(session); };
    return submit(info, std::move(job));
  }

  Napi::Value ForkSession(const Napi::CallbackInfo& info) {
    require_loaded(info.Env());
    const int session = handle_arg(info, 0, "session");
    auto job = std::make_unique<Job>(info.Env());
    auto forked = std::make_shared<int>(-1);
    job->work = [this, session, forked] { *forked = backend_->fork_session(session); };
    job->result = [forked](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *forked); };
    return submit(info, std::move(job));
  }

  // logMel(pcm: Float32Array) -> Promise<Float32Array [nMels][frames]>
  Napi::Value LogMel(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    require_loaded(env);
    size_t n = 0;
    const float* pcm = typed_data<float>(info[0], "pcm", &n);
    auto job = std::make_unique<Job>(env);
    job->keep_alive.push_back(Napi::Persistent(info[0].As<Napi::Object>()));
    auto out = std::make_shared<std::vector<float>>();
    job->work = [this, pcm, n, out] { backend_->log_mel(pcm, static_cast<int>(n), *out); };
    job->result = [out](Napi::Env env) -> Napi::Value {
      auto array = Napi::Float32Array::New(env, out->size());
      std::copy(out->begin(), out->end(), array.Data());
      return array;
    };
    return submit(info, std::move(job));
  }

  // encode(windows: Int32Array, mels: Float32Array[], melFrames: Int32Array, outputs?: (Float32Array|null)[],
  //        firstFrames?: Int32Array, windowFrames?: Int32Array) -> Promise<void>; outputs[i], when
  //   given, receives the states of the frames computed; firstFrames[i] > 0 keeps a streaming
  //   window's frames before it; windowFrames[i] pads a streaming window with silent frames.
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    require_loaded(env);
    size_t count = 0, frame_count = 0;
    const int32_t* windows = typed_data<int32_t>(info[0], "windows", &count);
    const int32_t* frames = typed_data<int32_t>(info[2], "melFrames", &frame_count);
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "encode: mels must be an array");
    auto mels = info[1].As<Napi::Array>();
    if (mels.Length() != count || frame_count != count) {
      throw Napi::RangeError::New(env, "encode: windows, mels and melFrames differ in length");
    }
    const int32_t* first_frames = nullptr;
    if (info.Length() > 4 && !info[4].IsUndefined() && !info[4].IsNull()) {
      size_t first_count = 0;
      first_frames = typed_data<int32_t>(info[4], "firstFrames", &first_count);
      if (first_count != count) throw Napi::RangeError::New(env, "encode: firstFrames differs in length from windows");
    }
    const int32_t* window_frames = nullptr;
    if (info.Length() > 5 && !info[5].IsUndefined() && !info[5].IsNull()) {
      size_t window_count = 0;
      window_frames = typed_data<int32_t>(info[5], "windowFrames", &window_count);
      if (window_count != count) throw Napi::RangeError::New(env, "encode: windowFrames differs in length from windows");
    }
    auto job = std::make_unique<Job>(env);
    std::vector<EncodeJob> jobs;
    const int n_mels = backend_->dims().n_mels;
    for (uint32_t i = 0; i < count; ++i) {
      size_t length = 0;
      Napi::Value mel = mels.Get(i);
      const float* data = typed_data<float>(mel, "mel", &length);
      if (frames[i] <= 0 || length < static_cast<size_t>(frames[i]) * n_mels) {
        throw Napi::RangeError::New(env, "encode: mel " + std::to_string(i) + " is shorter than nMels * melFrames");
      }
      job->keep_alive.push_back(Napi::Persistent(mel.As<Napi::Object>()));
      float* output = nullptr;
      if (info[3].IsArray()) {
        Napi::Value out = info[3].As<Napi::Array>().Get(i);
        if (!out.IsNull() && !out.IsUndefined()) {
          size_t out_length = 0;
          output = typed_data<float>(out, "output", &out_length);
          const int first = first_frames ? first_frames[i] : 0;
          if (out_length < static_cast<size_t>(std::max(0, frames[i] / 2 - first)) * backend_->dims().n_state) {
            throw Napi::RangeError::New(env, "encode: output " + std::to_string(i) + " is smaller than frames * nState");
          }
          job->keep_alive.push_back(Napi::Persistent(out.As<Napi::Object>()));
        }
      }
      jobs.push_back({windows[i], data, frames[i], output, first_frames ? first_frames[i] : 0,
                      window_frames ? window_frames[i] : 0});
    }
    job->work = [this, jobs = std::move(jobs)] { backend_->encode(jobs); };
    return submit(info, std::move(job));
  }

  // decode(sessions, positions, tokenCounts: Int32Array, tokens: Int32Array, logits: Float32Array,
  //        attention?: Float32Array | null, extraRows?: Int32Array | null,
  //        extraLogits?: Float32Array | null) -> Promise<void>
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    require_loaded(env);
    size_t n_sessions = 0, n_positions = 0, n_counts = 0, n_tokens = 0, n_logits = 0;
    const int32_t* sessions = typed_data<int32_t>(info[0], "sessions", &n_sessions);
    const int32_t* positions = typed_data<int32_t>(info[1], "positions", &n_positions);
    const int32_t* counts = typed_data<int32_t>(info[2], "tokenCounts", &n_counts);
    const int32_t* tokens = typed_data<int32_t>(info[3], "tokens", &n_tokens);
    float* logits = typed_data<float>(info[4], "logits", &n_logits);
    if (n_positions != n_sessions || n_counts != n_sessions) {
      throw Napi::RangeError::New(env, "decode: sessions, positions and tokenCounts differ in length");
    }
    if (n_logits < n_sessions * static_cast<size_t>(backend_->dims().n_vocab)) {
      throw Napi::RangeError::New(env, "decode: logits buffer is smaller than sessions * nVocab");
    }
    const bool wants_attention = info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined();
    float* attention = nullptr;
    if (wants_attention) {
      const int heads = backend_->alignment_head_count();
      if (heads == 0) throw Napi::Error::New(env, "decode: the model was loaded without alignment heads");
      size_t n_attention = 0;
      attention = typed_data<float>(info[5], "attention", &n_attention);
      if (n_attention < n_sessions * heads * static_cast<size_t>(backend_->dims().n_audio_ctx)) {
        throw Napi::RangeError::New(env, "decode: attention buffer is smaller than sessions * nAlignmentHeads * nAudioCtx");
      }
    }
    const bool wants_extra = info.Length() > 6 && !info[6].IsNull() && !info[6].IsUndefined();
    const int32_t* extra_rows = nullptr;
    float* extra_logits = nullptr;
    if (wants_extra) {
      size_t n_extra_rows = 0, n_extra_logits = 0;
      extra_rows = typed_data<int32_t>(info[6], "extraRows", &n_extra_rows);
      if (info.Length() <= 7) throw Napi::TypeError::New(env, "decode: extraRows without an extraLogits buffer");
      extra_logits = typed_data<float>(info[7], "extraLogits", &n_extra_logits);
      if (n_extra_rows != n_sessions) throw Napi::RangeError::New(env, "decode: extraRows and sessions differ in length");
      if (n_extra_logits < n_sessions * static_cast<size_t>(backend_->dims().n_vocab)) {
        throw Napi::RangeError::New(env, "decode: extraLogits buffer is smaller than sessions * nVocab");
      }
    }
    std::vector<DecodeItem> items;
    size_t offset = 0;
    for (size_t i = 0; i < n_sessions; ++i) {
      if (counts[i] <= 0 || offset + counts[i] > n_tokens) {
        throw Napi::RangeError::New(env, "decode: tokenCounts do not match the tokens array");
      }
      items.push_back({sessions[i], positions[i], counts[i], tokens + offset, extra_rows ? extra_rows[i] : -1});
      offset += counts[i];
    }
    auto job = std::make_unique<Job>(env);
    for (int i = 0; i < 8; ++i) {
      if (i == 5 && !wants_attention) continue;
      if (i >= 6 && !wants_extra) break;
      job->keep_alive.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
    }
    job->work = [this, items = std::move(items), logits, attention, extra_logits] {
      backend_->decode(items, logits, attention, extra_logits);
    };
    return submit(info, std::move(job));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    shutdown();
    return info.Env().Undefined();
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<DeviceThread> device_;
  Napi::ThreadSafeFunction tsfn_;
  int pending_ = 0;
  bool loading_ = false;
  bool closed_ = false;
};

Napi::Value DetectIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kernels::isa_name(kernels::active_isa()));
}

// The vocabulary reductions run synchronously on the caller's thread, straight on the
// caller's array: a row takes microseconds, less than a trip through the device thread.

// logitStats(logits: Float32Array, split: number, out: Float64Array) -> void; out receives
//   [max, argmax, logSumExp] of logits[0, split), then of logits[split, length).
Napi::Value LogitStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  size_t n = 0;
  const float* logits = typed_data<float>(info[0], "logits", &n);
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "logitStats: split must be a number");
  const int64_t split = info[1].As<Napi::Number>().Int64Value();
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "logitStats: out must be a Float64Array");
  }
  auto out = info[2].As<Napi::Float64Array>();
  if (out.ElementLength() < 6) throw Napi::RangeError::New(env, "logitStats: out holds fewer than 6 values");
  if (split < 0 || static_cast<uint64_t>(split) > n || n > (size_t{1} << 24)) {
    throw Napi::RangeError::New(env, "logitStats: split " + std::to_string(split) + " outside a row of " +
                                         std::to_string(n) + " (at most 2^24 logits)");
  }
  kernels::RangeStats head, tail;
  kernels::logit_stats(logits, static_cast<int>(n), static_cast<int>(split), &head, &tail);
  double* o = out.Data();
  for (const kernels::RangeStats* r : {&head, &tail}) {
    *o++ = r->max;
    *o++ = r->argmax;
    *o++ = r->log_sum_exp;
  }
  return env.Undefined();
}

// topK(logits: Float32Array, k: number, out: Int32Array) -> number: writes the indices of the
//   min(k, length) largest logits, largest first, equal ones by lower index, and returns that count.
Napi::Value TopK(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  size_t n = 0, capacity = 0;
  const float* logits = typed_data<float>(info[0], "logits", &n);
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "topK: k must be a number");
  const int64_t k = info[1].As<Napi::Number>().Int64Value();
  int32_t* out = typed_data<int32_t>(info[2], "out", &capacity);
  if (k < 0 || n > INT32_MAX) throw Napi::RangeError::New(env, "topK: negative k or a row of 2^31 logits");
  const size_t count = std::min(static_cast<size_t>(k), n);
  if (capacity < count) throw Napi::RangeError::New(env, "topK: out holds fewer than min(k, length) values");
  return Napi::Number::New(env, kernels::top_k(logits, static_cast<int>(n), static_cast<int>(count), out));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", Engine::Define(env));
  exports.Set("isa", Napi::Function::New(env, DetectIsa));
  exports.Set("logitStats", Napi::Function::New(env, LogitStats));
  exports.Set("topK", Napi::Function::New(env, TopK));
  return exports;
}

}  // namespace
}  // namespace chorus

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return chorus::Init(env, exports); }
NODE_API_MODULE(chorus, InitModule)
