// Sessions with a real (tiny) model package from tests/python/make_test_models.py: enhancement is
// on, the engine's formats survive the round trip through the model, strength and prompts apply.
#include "test_util.hpp"

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
