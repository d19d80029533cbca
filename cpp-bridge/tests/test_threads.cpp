// The engine's threading: submit from the render thread while the game thread changes settings and
// a UI thread reads stats; destruction with work in flight; the cost of submit in realtime mode.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>

#include "test_util.hpp"

using realmaster::Mode;
using realmaster::Output;
using realmaster::PixelFormat;
using realmaster::Status;

namespace {

using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Three threads on one session, as an engine uses it. Returns after checking every invariant.
void hammer(const realmaster::Session &s, const std::vector<std::string> &prompts) {
  const int frames = 150;
  std::atomic<bool> done{false};
  std::atomic<int> submitErrors{0}, settingErrors{0}, statsErrors{0};
  std::string firstError;
  std::mutex errMutex;
  auto note = [&](const Status &st) {
    std::lock_guard<std::mutex> lock(errMutex);
    if (firstError.empty()) {
      firstError = st.message;
    }
  };

  std::thread render([&] {
    for (int i = 0; i < frames; ++i) {
      const auto img = rmtest::makeImage(64, 36, PixelFormat::Bgra8Srgb, 0, i);
      const Status st = s.submit(img.view());
      if (!st.ok()) {
        ++submitErrors;
        note(st);
      }
    }
    done = true;
  });
  std::thread game([&] {
    int i = 0;
    while (!done) {
      Status a = s.setPrompt(prompts[std::size_t(i) % prompts.size()]);
      Status b = s.setStrength(float(i % 11) / 10.0f);
      for (const Status &st : {a, b}) {
        if (!st.ok()) {
          ++settingErrors;
          note(st);
        }
      }
      ++i;
      std::this_thread::yield();
    }
  });
  std::thread ui([&] {
    std::uint64_t last = 0;
    Output out;
    while (!done) {
      const auto st = s.stats();
      if (st.framesSubmitted < last) {
        ++statsErrors; // counters never go backwards
      }
      last = st.framesSubmitted;
      (void)s.health();
      (void)s.latestOutput(out);
      std::this_thread::yield();
    }
  });
  render.join();
  game.join();
  ui.join();

  EXPECT_EQ(submitErrors.load(), 0) << firstError;
  EXPECT_EQ(settingErrors.load(), 0) << firstError;
  EXPECT_EQ(statsErrors.load(), 0);
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(s, out, frames - 1));
  EXPECT_EQ(out.width(), 64u);
  EXPECT_EQ(out.format(), PixelFormat::Bgra8Srgb);
  const auto st = s.stats();
  EXPECT_EQ(st.framesSubmitted, std::uint64_t(frames));
  EXPECT_EQ(st.framesOutput + st.framesDropped, std::uint64_t(frames));
  // Back-to-back submits reuse the session's frame buffers: the first submit (and at most one more,
  // before the frame thread has made its spare) copies into fresh memory, none after.
  EXPECT_GE(st.submitAllocations, 1u);
  EXPECT_LE(st.submitAllocations, 2u);
}

} // namespace

TEST(Threads, SubmitWhileOthersChangeSettingsAndReadStats) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig(Mode::Realtime));
  ASSERT_NE(s, nullptr);
  hammer(*s, {"clear", "rain", "night"});
}

TEST(Threads, SubmitWhileOthersChangeSettingsAndReadStatsWithModel) {
  RM_REQUIRE_MODEL(dir, "prompt_tint");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir, Mode::Realtime));
  ASSERT_NE(s, nullptr);
  hammer(*s, {"clear", "rain", "night"});
  EXPECT_TRUE(s->health().ok()) << s->health().message;
}

namespace {

// Destroys sessions right after handing them frames: the worker threads are busy (queued frames,
// GPU work) when the destructor runs. It must join them without a crash, hang or leak.
void destroyWithWorkInFlight(const realmaster::Config &config) {
  const auto big = rmtest::makeImage(512, 288, PixelFormat::Rgba8Srgb);
  for (int round = 0; round < 4; ++round) {
    auto s = rmtest::mustCreate(config);
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(s->submit(big.view()).ok());
    }
    const auto st = s->stats();
    const std::uint64_t pending = st.framesSubmitted - st.framesOutput - st.framesDropped;
    const auto t0 = Clock::now();
    s.reset();
    std::printf("[ destroy  ] round %d: %llu frame(s) unfinished, session destroyed in %.2f ms\n",
                round, static_cast<unsigned long long>(pending), ms(Clock::now() - t0));
  }
}

} // namespace

TEST(Threads, DestroyedWhileWorkIsInFlight) {
  destroyWithWorkInFlight(rmtest::passthroughConfig(Mode::Realtime));
}

// In realtime mode the first frame hands its inference to the inference thread and is output at
// once (pass-through: no result yet). So the moment framesOutput becomes 1, an inference has just
// started; destroying the session within a fraction of one inference's duration therefore
// destroys it while that inference runs. The duration is measured first on a warm session.
TEST(Threads, DestroyedWhileInferenceIsRunning) {
  RM_REQUIRE_MODEL(dir, "blur");
  auto config = rmtest::modelConfig(dir, Mode::Realtime);
  config.modelWidth = 1024; // a large model input makes one inference last long enough to catch
  config.modelHeight = 576;
  const auto img = rmtest::makeImage(256, 144, PixelFormat::Rgba8Srgb);

  double inferenceMs = 0.0;
  {
    auto warm = rmtest::mustCreate(config);
    ASSERT_NE(warm, nullptr);
    // Cinematic: each submit waits for its inference, so the timing is in stats afterwards.
    ASSERT_TRUE(warm->setMode(Mode::Cinematic).ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(warm->submit(img.view()).ok());
    }
    ASSERT_TRUE(warm->health().ok()) << warm->health().message;
    inferenceMs = warm->stats().lastInferenceMs;
  }
  ASSERT_GT(inferenceMs, 0.0);

  int caughtRunning = 0;
  for (int round = 0; round < 3; ++round) {
    auto s = rmtest::mustCreate(config);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->submit(img.view()).ok());
    // Busy-poll. Frame 0 is counted as output right after its inference is dispatched (a copy of
    // this small frame later), so the dispatch happened about when the last poll saw no output.
    auto lastEmpty = Clock::now();
    const auto deadline = lastEmpty + std::chrono::seconds(60);
    while (s->stats().framesOutput == 0 && Clock::now() < deadline) {
      lastEmpty = Clock::now();
    }
    const auto t0 = Clock::now();
    // With 2 cores the frame thread can be preempted right after dispatching, long enough for the
    // inference to finish and be folded into frame 0: such a round does not count.
    const bool folded = s->stats().inferences != 0;
    const double ageMs = ms(t0 - lastEmpty); // upper bound on how long the inference has run
    s.reset();
    const double destroyMs = ms(Clock::now() - t0);
    const bool running = !folded && ageMs < 0.5 * inferenceMs;
    caughtRunning += running ? 1 : 0;
    std::printf("[ destroy  ] round %d: inference %.1f ms long, at most %.2f ms old at destruction "
                "(%s); destroyed in %.1f ms\n",
                round, inferenceMs, ageMs, running ? "running" : "maybe finished", destroyMs);
  }
  EXPECT_GT(caughtRunning, 0) << "no round destroyed the session while its inference was running";
}

namespace {

// Realtime submit must return before the frame is processed, and should cost about one copy of the
// frame. The first is checked from the session's counters, which no machine's speed can change:
// right after a submit returns, a submit that waited for the frame's processing always leaves
// `framesSubmitted == framesOutput + framesDropped`. The second is measured against memcpy of the
// same bytes and printed, not asserted: it depends on the machine (the CI job's submit ranged
// 1-4x its memcpy with the worker threads competing for the same two cores), so the number belongs
// to the benchmarks (`realmaster bench` reports submit times).
void submitReturnsBeforeProcessing(const realmaster::Config &config, const char *label) {
  auto s = rmtest::mustCreate(config);
  ASSERT_NE(s, nullptr);
  const std::uint32_t w = 1920, h = 1080;
  const auto img = rmtest::makeImage(w, h, PixelFormat::Rgba8Srgb);
  std::vector<std::uint8_t> dst(img.bytes.size(), 1);

  const int iterations = 40;
  std::vector<double> submitMs, copyMs;
  for (int i = 0; i < iterations + 5; ++i) {
    auto t0 = Clock::now();
    std::memcpy(dst.data(), img.bytes.data(), img.bytes.size());
    const double c = ms(Clock::now() - t0);
    t0 = Clock::now();
    const Status st = s->submit(img.view());
    const double sub = ms(Clock::now() - t0);
    ASSERT_TRUE(st.ok()) << st.message;
    if (i >= 5) { // the first submits allocate the recycled buffers
      copyMs.push_back(c);
      submitMs.push_back(sub);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(4)); // a frame's worth of other work
  }
  const double mSubmit = median(submitMs), mCopy = median(copyMs);
  const auto st = s->stats();
  const double processMs = st.lastPreprocessMs + st.lastCompositeMs + st.lastInferenceMs;
  std::printf("[ perf     ] %s 1920x1080 RGBA8 (%.1f MB): median memcpy %.3f ms, "
              "median submit %.3f ms (%.2fx), max submit %.3f ms; processing one frame takes "
              "%.1f ms\n",
              label, double(img.bytes.size()) / 1e6, mCopy, mSubmit, mSubmit / mCopy,
              *std::max_element(submitMs.begin(), submitMs.end()), processMs);
  ::testing::Test::RecordProperty("median_memcpy_ms", std::to_string(mCopy));
  ::testing::Test::RecordProperty("median_submit_ms", std::to_string(mSubmit));

  // Back-to-back submits: count those after which a frame was still waiting or being processed.
  // Processing a 1080p frame takes milliseconds and reading the counters microseconds, so a
  // non-blocking submit leaves one nearly every time; a blocking one never does.
  const int burst = 20;
  int pendingSeen = 0;
  for (int i = 0; i < burst; ++i) {
    ASSERT_TRUE(s->submit(img.view()).ok());
    const auto c = s->stats();
    pendingSeen += c.framesSubmitted > c.framesOutput + c.framesDropped ? 1 : 0;
  }
  // The bridge has no flush: wait (bounded) for the frame thread to finish the last frame.
  auto end = s->stats();
  for (const auto deadline = Clock::now() + std::chrono::seconds(30);
       end.framesSubmitted != end.framesOutput + end.framesDropped && Clock::now() < deadline;
       end = s->stats()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf(
      "[ perf     ] %s: %d of %d back-to-back submits returned with their frame unfinished; "
      "%llu of %llu frames dropped in all\n",
      label, pendingSeen, burst, static_cast<unsigned long long>(end.framesDropped),
      static_cast<unsigned long long>(end.framesSubmitted));
  EXPECT_GT(pendingSeen, 0) << "every realtime submit returned only after its frame was processed: "
                               "submit must copy the frame and return, never wait for processing";
  EXPECT_EQ(end.framesSubmitted, end.framesOutput + end.framesDropped)
      << "within 30 s of the last submit every frame is either output or dropped";
}

} // namespace

TEST(Perf, RealtimeSubmitReturnsBeforeProcessing) {
  submitReturnsBeforeProcessing(rmtest::passthroughConfig(Mode::Realtime), "no model");
}

TEST(Perf, RealtimeSubmitReturnsBeforeProcessingWithModel) {
  RM_REQUIRE_MODEL(dir, "identity");
  submitReturnsBeforeProcessing(rmtest::modelConfig(dir, Mode::Realtime), "identity model");
}
