// Sessions with a real (tiny) model package from tests/python/make_test_models.py: enhancement is
// on, the engine's formats survive the round trip through the model, strength and prompts apply.
#include "test_util.hpp"

#include <limits>

using realmaster::Mode;
using realmaster::Output;
using realmaster::PixelFormat;
using realmaster::Status;

namespace {

Output runOne(const realmaster::Session &s, const rmtest::TestImage &img, std::uint64_t index = 0) {
  Output out;
  const Status st = s.submit(img.view());
  EXPECT_TRUE(st.ok()) << st.message;
  EXPECT_TRUE(rmtest::waitForOutput(s, out, index));
  return out;
}

} // namespace

TEST(Model, IdentityModelEnhancesAndKeepsTheImage) {
  RM_REQUIRE_MODEL(dir, "identity");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  ASSERT_NE(s, nullptr);
  const auto img = rmtest::makeImage(64, 48, PixelFormat::Rgba8Srgb, 64);
  const Output out = runOne(*s, img);
  EXPECT_TRUE(s->health().ok()) << s->health().message;
  EXPECT_TRUE(out.enhanced());
  EXPECT_EQ(out.width(), 64u);
  EXPECT_EQ(out.height(), 48u);
  EXPECT_EQ(s->executionProvider(), "cpu");
  EXPECT_EQ(s->stats().executionProvider, "cpu");
  const std::string backend = s->stats().backend;
  EXPECT_TRUE(backend == "cpu" || backend == "gpu") << backend;
  // A package without per-prompt ridges composites with the configured one.
  EXPECT_FLOAT_EQ(s->stats().lastUpsampleEps, rmtest::modelConfig(dir).upsampleEps);
  // ... and with the plain fit (no manifest `upsample.edge_aware`).
  EXPECT_FLOAT_EQ(s->stats().lastUpsampleEdgeRidge, 1.0f);
  EXPECT_FLOAT_EQ(s->stats().lastUpsampleEdgePull, 0.0f);
  // Identity through resample -> model -> guided upsample: close to the input, not equal.
  EXPECT_LT(rmtest::meanAbsDiff8(rmtest::outputBytes(out), img.tight()), 8.0);
}

TEST(Model, StrengthZeroLeavesTheFrameUntouched) {
  RM_REQUIRE_MODEL(dir, "colormap");
  auto c = rmtest::modelConfig(dir);
  c.strength = 0.0f;
  auto s = rmtest::mustCreate(c);
  ASSERT_NE(s, nullptr);
  const auto img = rmtest::makeImage(48, 32, PixelFormat::Rgba8Srgb);
  const Output out = runOne(*s, img);
  EXPECT_LT(rmtest::meanAbsDiff8(rmtest::outputBytes(out), img.tight()), 1.0);
}

TEST(Model, ColormapGradeShowsInTheRightChannelsForRgbaAndBgra) {
  RM_REQUIRE_MODEL(dir, "colormap");
  // The test grade raises red (1.10 R + 0.03) and lowers blue (0.85 B - 0.02 + 0.05 G).
  for (auto format : {PixelFormat::Rgba8Srgb, PixelFormat::Bgra8Srgb}) {
    auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
    ASSERT_NE(s, nullptr);
    const auto img = rmtest::makeImage(48, 32, format);
    const Output out = runOne(*s, img);
    ASSERT_TRUE(out.enhanced()) << s->health().message;
    ASSERT_EQ(out.format(), format);
    const int r = format == PixelFormat::Rgba8Srgb ? 0 : 2;
    const int b = 2 - r;
    const auto o = rmtest::outputBytes(out), in = img.tight();
    EXPECT_GT(rmtest::channelMean8(o, r), rmtest::channelMean8(in, r) + 2.0);
    EXPECT_LT(rmtest::channelMean8(o, b), rmtest::channelMean8(in, b) - 2.0);
  }
}

TEST(Model, HdrInputGivesFiniteHdrOutput) {
  RM_REQUIRE_MODEL(dir, "colormap");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  ASSERT_NE(s, nullptr);
  for (auto format : {PixelFormat::Rgba16Float, PixelFormat::Rgba32Float}) {
    const auto img = rmtest::makeImage(32, 32, format);
    const std::uint64_t index = format == PixelFormat::Rgba16Float ? 0 : 1;
    const Output out = runOne(*s, img, index);
    EXPECT_TRUE(out.enhanced()) << s->health().message;
    EXPECT_EQ(out.format(), format);
    if (format == PixelFormat::Rgba32Float) {
      bool finite = true;
      for (std::size_t i = 0; i < out.sizeBytes(); i += 4) {
        float v;
        std::memcpy(&v, out.data() + i, 4);
        finite = finite && std::isfinite(v);
      }
      EXPECT_TRUE(finite);
    }
  }
}

TEST(Model, ResolutionChangeMidStream) {
  RM_REQUIRE_MODEL(dir, "identity");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  ASSERT_NE(s, nullptr);
  const std::uint32_t sizes[][2] = {{64, 48}, {96, 64}, {40, 24}};
  std::uint64_t index = 0;
  for (auto &wh : sizes) {
    const auto img = rmtest::makeImage(wh[0], wh[1], PixelFormat::Rgba8Srgb);
    const Output out = runOne(*s, img, index++);
    EXPECT_EQ(out.width(), wh[0]);
    EXPECT_EQ(out.height(), wh[1]);
    EXPECT_TRUE(out.enhanced()) << s->health().message;
  }
  EXPECT_GE(s->stats().windowResets, 2u) << "a resolution change resets history";
}

TEST(Model, PresetPromptsAreAcceptedAndUnknownOnesExplained) {
  RM_REQUIRE_MODEL(dir, "prompt_tint");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->setPrompt("rain").ok());
  EXPECT_TRUE(s->setPrompt("night").ok());
  const auto img = rmtest::makeImage(32, 32, PixelFormat::Rgba8Srgb);
  const Output out = runOne(*s, img);
  EXPECT_TRUE(out.enhanced()) << s->health().message;
}

// The counters the runtime keeps about what was shown reach C++: a NaN-depth frame is repaired
// per pixel and still enhanced (framesSanitized), a NaN HDR colour frame is refused and shown
// untouched (framesFailed), and the frames around them are enhanced.
TEST(Model, StatsCountSanitizedAndFailedFrames) {
  RM_REQUIRE_MODEL(dir, "colormap");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  ASSERT_NE(s, nullptr);
  constexpr std::uint32_t w = 48, h = 32;
  const auto img = rmtest::makeImage(w, h, PixelFormat::Rgba8Srgb);
  const auto depth = rmtest::makePlane(w, h, 1, 0, 5.0f);
  auto nanDepth = depth;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t i = 0; i < nanDepth.size(); i += 3 * sizeof(float)) {
    std::memcpy(nanDepth.data() + i, &nan, sizeof(float));
  }
  auto withDepth = [&](const std::vector<std::uint8_t> &d) {
    realmaster::FrameView f = img.view();
    f.depth = realmaster::Plane{d.data(), d.size(), 0};
    return f;
  };
  auto nanColour = rmtest::makeImage(w, h, PixelFormat::Rgba32Float);
  std::memcpy(nanColour.bytes.data() + 7 * sizeof(float), &nan, sizeof(float));

  Output out;
  ASSERT_TRUE(s->submit(withDepth(depth)).ok());
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 0));
  EXPECT_TRUE(out.enhanced()) << s->health().message;
  ASSERT_TRUE(s->submit(withDepth(nanDepth)).ok());
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 1));
  EXPECT_TRUE(out.enhanced()) << "NaN depth is repaired per pixel: " << s->health().message;
  // Accepted by submit (the layout is fine); the values are refused when the frame is processed.
  ASSERT_TRUE(s->submit(nanColour.view()).ok());
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 2));
  EXPECT_FALSE(out.enhanced()) << "a NaN colour frame is shown untouched";
  ASSERT_TRUE(s->submit(withDepth(depth)).ok());
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 3));
  EXPECT_TRUE(out.enhanced());
  EXPECT_TRUE(s->health().ok()) << "health follows the latest frame: " << s->health().message;

  const auto st = s->stats();
  EXPECT_EQ(st.framesSubmitted, 4u);
  EXPECT_EQ(st.framesOutput, 4u);
  EXPECT_EQ(st.framesEnhanced, 3u);
  EXPECT_EQ(st.framesReprojected, 0u) << "cinematic: every frame has its own inference";
  EXPECT_EQ(st.framesFailed, 1u);
  EXPECT_EQ(st.framesSanitized, 1u);
  EXPECT_EQ(st.modelFaults, 0u);
}

// An absurd model output (x1e6) is a model fault: shown untouched, counted as failed, never as
// enhanced.
TEST(Model, StatsCountModelFaultsNeverEnhanced) {
  RM_REQUIRE_MODEL(dir, "faulty/scaled_1e6");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  ASSERT_NE(s, nullptr);
  const auto img = rmtest::makeImage(48, 32, PixelFormat::Rgba8Srgb);
  Output out;
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(s->submit(img.view()).ok());
    ASSERT_TRUE(rmtest::waitForOutput(*s, out, i));
    EXPECT_FALSE(out.enhanced()) << "frame " << i;
    EXPECT_EQ(rmtest::outputBytes(out), img.tight()) << "frame " << i << " not untouched";
  }
  const auto st = s->stats();
  EXPECT_EQ(st.framesEnhanced, 0u);
  EXPECT_EQ(st.modelFaults, 3u);
  EXPECT_EQ(st.framesFailed, 3u);
  EXPECT_EQ(st.framesSanitized, 0u);
  const auto health = s->health();
  EXPECT_FALSE(health.ok());
  EXPECT_NE(health.message.find("model fault"), std::string::npos) << health.message;
}

// Realtime: outputs that reuse an earlier inference are counted as reprojected, within enhanced.
TEST(Model, StatsRealtimeReprojectedIsPartOfEnhanced) {
  RM_REQUIRE_MODEL(dir, "colormap");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir, Mode::Realtime));
  ASSERT_NE(s, nullptr);
  const std::uint64_t n = 24;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto img = rmtest::makeImage(48, 32, PixelFormat::Rgba8Srgb, 0, int(i));
    ASSERT_TRUE(s->submit(img.view()).ok()); // realtime submit copies the frame
  }
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, n - 1));
  const auto st = s->stats();
  EXPECT_EQ(st.framesOutput + st.framesDropped, n);
  EXPECT_LE(st.framesReprojected, st.framesEnhanced);
  EXPECT_LE(st.framesEnhanced + st.framesFailed, st.framesOutput);
  EXPECT_EQ(st.framesFailed, 0u);
  EXPECT_EQ(st.modelFaults, 0u);
  EXPECT_EQ(st.framesSanitized, 0u);
}

TEST(Model, BackendIsChosenByConfigAndReported) {
  RM_REQUIRE_MODEL(dir, "identity");
  const auto img = rmtest::makeImage(64, 48, PixelFormat::Rgba8Srgb, 64);
  auto c = rmtest::modelConfig(dir);
  c.backend = "cpu";
  c.mode = Mode::Cinematic;
  auto cpu = rmtest::mustCreate(c);
  ASSERT_NE(cpu, nullptr);
  const Output a = runOne(*cpu, img);
  EXPECT_TRUE(a.enhanced());
  EXPECT_EQ(cpu->stats().backend, "cpu");
  c.backend = "gpu";
  auto gpu = rmtest::mustCreate(c);
  ASSERT_NE(gpu, nullptr);
  const Output b = runOne(*gpu, img);
  EXPECT_TRUE(b.enhanced());
  EXPECT_EQ(gpu->stats().backend, "gpu");
  // Only the GPU backend moves the frame to and from the device.
  EXPECT_EQ(cpu->stats().lastTransferBytes, 0u);
  EXPECT_GE(gpu->stats().lastTransferBytes, std::uint64_t(64 * 48 * 4));
  // The two backends run the same passes: the same picture within a few 8-bit steps.
  EXPECT_LT(rmtest::meanAbsDiff8(rmtest::outputBytes(a), rmtest::outputBytes(b)), 1.0);
  c.backend = "tpu";
  realmaster::Status st;
  EXPECT_EQ(realmaster::Session::create(c, st), nullptr);
  EXPECT_FALSE(st.ok());
}
