// Fork-join pool tuned for many short jobs per second (one per gemm of a decoder step).
//
// A job is published as one 64-bit word holding a generation, the task count and the next
// unclaimed index; threads claim indices with compare-and-swap on that word, so a claim
// can only succeed for the job it was read from. The caller claims indices too and waits
// only for tasks that were claimed, never for a worker to wake up: a worker that is asleep
// or descheduled when a short job arrives simply finds nothing left to do.
//
// Workers spin briefly after each job (within a device step the next one follows within
// microseconds) and then sleep on a condition variable. The spin is bounded in time, not in
// iterations: a pause instruction takes from about ten cycles (AMD Zen) to about 140 (Intel
// since Skylake), and a worker spinning for a millisecond between device steps takes a core
// from the thread that prepares the next step.
//
// run() must not be called from several threads at once on the same pool, nor from inside
// one of its own tasks.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "chorus/kernels.h"

namespace chorus::kernels {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

constexpr auto kSpinTime = std::chrono::microseconds(50);

// Spins until ready() or kSpinTime has passed; returns ready().
template <typename Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

// Job word: generation (24 bits) | count (20 bits) | next index (20 bits). A worker
// stalled for 2^24 jobs could in principle mistake an old generation for a new one;
// that is far beyond any real scheduling delay.
constexpr int kIndexBits = 20;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
constexpr int kMaxCount = static_cast<int>(kIndexMask);
inline uint64_t generation_of(uint64_t s) { return s >> (2 * kIndexBits); }
inline int count_of(uint64_t s) { return static_cast<int>((s >> kIndexBits) & kIndexMask); }
inline int next_of(uint64_t s) { return static_cast<int>(s & kIndexMask); }

}  // namespace

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable wake;      // workers: new job or stop
  std::condition_variable finished;  // caller: every task of the job done
  std::atomic<uint64_t> job{0};
  std::atomic<int> done{0};
  std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  // Stable while any index of the current job is claimed but unfinished: the caller only
  // rewrites them for the next job after all of them are done.
  void (*task)(void*, int) = nullptr;
  void* ctx = nullptr;

  // Runs indices of the job with generation gen until none are left.
  void drain(uint64_t gen, bool is_caller) {
    uint64_t s = job.load(std::memory_order_acquire);
    while (generation_of(s) == gen && next_of(s) < count_of(s)) {
      if (!job.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      task(ctx, next_of(s));
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == count_of(s) && !is_caller) {
        std::lock_guard<std::mutex> lock(mu);
        finished.notify_one();
      }
      s = job.load(std::memory_order_acquire);
    }
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = seen;
      spin_until([&] { return (gen = generation_of(job.load(std::memory_order_acquire))) != seen; });
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(mu);
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        wake.wait(lock, [&] {
          return generation_of(job.load(std::memory_order_seq_cst)) != seen || stop.load(std::memory_order_relaxed);
        });
        sleepers.fetch_sub(1, std::memory_order_relaxed);
        gen = generation_of(job.load(std::memory_order_acquire));
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = gen;
      drain(gen, false);
    }
  }

  void run_job(int count, void (*fn)(void*, int), void* arg) {
    task = fn;
    ctx = arg;
    done.store(0, std::memory_order_relaxed);
    const uint64_t gen = (generation_of(job.load(std::memory_order_relaxed)) + 1) & ((uint64_t{1} << 24) - 1);
    // seq_cst store then seq_cst load of sleepers pairs with the worker's increment then
    // predicate check: either the worker sees the job or the caller sees the sleeper.
    job.store((gen << (2 * kIndexBits)) | (static_cast<uint64_t>(count) << kIndexBits), std::memory_order_seq_cst);
    if (sleepers.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(mu);
      wake.notify_all();
    }
    drain(gen, true);
    if (!spin_until([&] { return done.load(std::memory_order_acquire) == count; })) {
      std::unique_lock<std::mutex> lock(mu);
      finished.wait(lock, [&] { return done.load(std::memory_order_acquire) == count; });
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(new Impl) {
  for (int i = 1; i < threads; ++i) impl_->workers.emplace_back([this] { impl_->worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true, std::memory_order_release);
    // A new generation also releases workers that are still spinning.
    impl_->job.fetch_add(uint64_t{1} << (2 * kIndexBits), std::memory_order_seq_cst);
  }
  impl_->wake.notify_all();
  for (std::thread& t : impl_->workers) t.join();
}

int ThreadPool::size() const { return static_cast<int>(impl_->workers.size()) + 1; }

void ThreadPool::run(int count, void (*task)(void*, int), void* ctx) {
  if (count <= 0) return;
  if (impl_->workers.empty() || count == 1) {
    for (int i = 0; i < count; ++i) task(ctx, i);
    return;
  }
  // The job word holds at most kMaxCount indices; larger jobs go in slices.
  struct Slice {
    void (*task)(void*, int);
    void* ctx;
    int base;
  };
  for (int base = 0; base < count; base += kMaxCount) {
    Slice slice{task, ctx, base};
    const int n = count - base < kMaxCount ? count - base : kMaxCount;
    impl_->run_job(n, [](void* p, int i) {
      const Slice& sl = *static_cast<const Slice*>(p);
      sl.task(sl.ctx, sl.base + i);
    }, &slice);
  }
}

}  // namespace chorus::kernels
