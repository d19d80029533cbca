// The scene's light (realmaster::SceneLight) through the wrapper: every frame type carries it to
// the runtime, and the `light_tint` test model (rgb = current + 0.5 * sun + 0.25 * up, from
// tests/python/make_test_models.py) shows which light arrived.
#include "test_util.hpp"

#include <cmath>
#include <limits>
#include <optional>

using realmaster::FrameView;
using realmaster::Output;
using realmaster::PixelFormat;
using realmaster::SceneLight;
using realmaster::Status;
using realmaster::StatusCode;

namespace {

constexpr std::uint32_t kW = 48;
constexpr std::uint32_t kH = 32;
/// Mid-dark grey: the model's tints (at most +0.75 per channel here) stay below 1.
constexpr std::uint8_t kGrey = 64;

rmtest::TestImage greyImage(std::uint32_t w = kW, std::uint32_t h = kH) {
  rmtest::TestImage img;
  img.width = w;
  img.height = h;
  img.format = PixelFormat::Rgba8Srgb;
  img.pitch = img.rowBytes();
  img.bytes.assign(img.pitch * h, kGrey);
  for (std::size_t i = 3; i < img.bytes.size(); i += 4) {
    img.bytes[i] = 255;
  }
  return img;
}

/// One cinematic frame through a fresh light_tint session (no history from other frames).
std::vector<std::uint8_t> tinted(const std::string &dir, const FrameView &frame) {
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  if (!s) {
    return {};
  }
  const Status st = s->submit(frame);
  EXPECT_TRUE(st.ok()) << st.message;
  Output out;
  EXPECT_TRUE(rmtest::waitForOutput(*s, out, 0));
  EXPECT_TRUE(out.enhanced()) << s->health().message;
  const realmaster::Stats st2 = s->stats();
  EXPECT_TRUE(st2.modelReadsLight);
  EXPECT_EQ(st2.framesWithoutLight, frame.light ? 0u : 1u) << "a frame without light is counted";
  return rmtest::outputBytes(out);
}

std::vector<std::uint8_t> tinted(const std::string &dir, std::optional<SceneLight> light) {
  const auto img = greyImage();
  FrameView f = img.view();
  f.light = light;
  return tinted(dir, f);
}

/// The model's output for a grey frame, 8-bit: grey + 255 * (0.5 * sun + 0.25 * up) per channel.
double expectedChannel(const SceneLight &l, int c) {
  return double(kGrey) + 255.0 * (0.5 * double(l.sun[c]) + 0.25 * double(l.up[c]));
}

void expectTint(const std::vector<std::uint8_t> &out, const SceneLight &l, const char *what) {
  ASSERT_EQ(out.size(), std::size_t(kW) * kH * 4) << what;
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(rmtest::channelMean8(out, c), expectedChannel(l, c), 3.0)
        << what << ", channel " << c;
  }
}

// Two lights whose tints differ in every channel they touch: A = blue and some green, B = red and
// the same green.
const SceneLight kLightA{{0.0f, 0.0f, 1.0f}, {0.0f, 1.0f, 0.0f}};
const SceneLight kLightB{{1.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}};

void expectInvalidLight(const Status &st, const char *vector) {
  EXPECT_TRUE(st.is(StatusCode::InvalidFrame)) << st.code << ": " << st.message;
  EXPECT_NE(st.message.find("light"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find(vector), std::string::npos) << st.message;
}

void fill(rust::Vec<std::uint8_t> &v, const std::vector<std::uint8_t> &bytes) {
  v.clear();
  v.reserve(bytes.size());
  for (auto b : bytes) {
    v.push_back(b);
  }
}

/// make_test_sequence.py's light_for_frame.
SceneLight sequenceLight(int i) {
  const double phi = 30.0 * double(i) * 3.14159265358979323846 / 180.0;
  const double t = 0.05 * double(i);
  return SceneLight{{float(0.6 * std::sin(phi)), 0.8f, float(0.6 * std::cos(phi))},
                    {0.0f, float(std::cos(t)), float(-std::sin(t))}};
}

void expectNear(const SceneLight &a, const SceneLight &b, const std::string &what) {
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(a.sun[c], b.sun[c], 1e-5) << what << " sun[" << c << "]";
    EXPECT_NEAR(a.up[c], b.up[c], 1e-5) << what << " up[" << c << "]";
  }
}

} // namespace

// The wrapper's frame types start without a light and carry exactly what is set.
TEST(Light, EveryFrameTypeStartsWithoutLightAndKeepsWhatIsSet) {
  constexpr SceneLight fb = SceneLight::fallback();
  EXPECT_EQ(fb.sun, (std::array<float, 3>{0.0f, 0.70710678f, 0.70710678f}));
  EXPECT_EQ(fb.up, (std::array<float, 3>{0.0f, 1.0f, 0.0f}));

  const realmaster::ffi::Light none = realmaster::lightToFfi(std::nullopt);
  EXPECT_FALSE(none.present);
  EXPECT_EQ(none.sun, (std::array<float, 3>{0.0f, 0.0f, 0.0f}));
  const realmaster::ffi::Light some = realmaster::lightToFfi(kLightA);
  EXPECT_TRUE(some.present);
  EXPECT_EQ(realmaster::lightFromFfi(some), std::optional<SceneLight>(kLightA));
  EXPECT_EQ(realmaster::lightFromFfi(none), std::nullopt);

  EXPECT_FALSE(FrameView{}.light.has_value());
  EXPECT_FALSE(FrameView::colorOnly(nullptr, 1, 1, PixelFormat::Rgba8Srgb).light.has_value());

  realmaster::OwnedFrame owned(4, 4, PixelFormat::Rgba8Srgb);
  EXPECT_FALSE(owned.light().has_value());
  EXPECT_FALSE(owned.raw().light.present);
  owned.setLight(kLightA.sun, kLightA.up);
  EXPECT_EQ(owned.light(), kLightA);
  owned.setLight(kLightB);
  EXPECT_EQ(owned.light(), kLightB);
  owned.setLight(std::nullopt);
  EXPECT_FALSE(owned.light().has_value());
  owned.setLight(kLightA);
  owned.clearLight();
  EXPECT_FALSE(owned.raw().light.present);

  realmaster::io::SequenceFrame seq;
  EXPECT_FALSE(seq.light().has_value());
  EXPECT_FALSE(seq.view().light.has_value());
  seq.setLight(kLightB);
  EXPECT_EQ(seq.view().light, kLightB);
  seq.clearLight();
  EXPECT_FALSE(seq.view().light.has_value());

  realmaster::VulkanSession::Frame vk = realmaster::VulkanSession::emptyFrame();
  EXPECT_FALSE(realmaster::lightOf(vk).has_value());
  EXPECT_EQ(vk.color, 0u);
  EXPECT_EQ(vk.output, 0u);
  EXPECT_FALSE(vk.camera_cut);
  EXPECT_EQ(vk.world_to_view[0], 1.0f);
  EXPECT_EQ(vk.world_to_view[4], 1.0f);
  EXPECT_EQ(vk.world_to_view[8], 1.0f);
  realmaster::setLight(vk, kLightA.sun, kLightA.up);
  EXPECT_TRUE(vk.light.present);
  EXPECT_EQ(realmaster::lightOf(vk), kLightA);
  realmaster::setLight(vk, kLightB);
  EXPECT_EQ(realmaster::lightOf(vk), kLightB);
  realmaster::clearLight(vk);
  EXPECT_FALSE(vk.light.present);
}

// The light reaches the model: each light gives its own tint, and the two differ by exactly the
// difference of the lights (a light dropped on the way would give the fallback's tint to both).
TEST(Light, LightTintShowsTheFramesLight) {
  RM_REQUIRE_MODEL(dir, "light_tint");
  const auto a = tinted(dir, kLightA);
  const auto b = tinted(dir, kLightB);
  expectTint(a, kLightA, "light A");
  expectTint(b, kLightB, "light B");
  // B - A: +0.5 red, same green, -0.5 blue.
  EXPECT_NEAR(rmtest::channelMean8(b, 0) - rmtest::channelMean8(a, 0), 127.5, 3.0);
  EXPECT_NEAR(rmtest::channelMean8(b, 1) - rmtest::channelMean8(a, 1), 0.0, 1.0);
  EXPECT_NEAR(rmtest::channelMean8(b, 2) - rmtest::channelMean8(a, 2), -127.5, 3.0);
  // Any length: the runtime normalises (sun x3, up x0.5 give light A's tint).
  const auto scaled = tinted(dir, SceneLight{{0.0f, 0.0f, 3.0f}, {0.0f, 0.5f, 0.0f}});
  EXPECT_LT(rmtest::meanAbsDiff8(scaled, a), 0.5);
}

// No light: the model gets the documented fallback, exactly as if the host had passed it.
TEST(Light, FrameWithoutLightEqualsTheFallback) {
  RM_REQUIRE_MODEL(dir, "light_tint");
  const auto none = tinted(dir, std::nullopt);
  const auto fallback = tinted(dir, SceneLight::fallback());
  const auto written =
      tinted(dir, SceneLight{{0.0f, 0.7071f, 0.7071f}, {0.0f, 1.0f, 0.0f}}); // as documented
  expectTint(none, SceneLight::fallback(), "no light");
  EXPECT_EQ(none, fallback);
  EXPECT_LT(rmtest::meanAbsDiff8(none, written), 0.5);
  EXPECT_GT(rmtest::meanAbsDiff8(none, tinted(dir, kLightA)), 20.0)
      << "the fallback differs from light A, so the comparison above means something";
}

// A zero or non-finite vector is refused before anything runs, naming the light and the vector;
// the session goes on with the next frame.
TEST(Light, ZeroOrNonFiniteVectorIsAnInvalidFrameNamingIt) {
  RM_REQUIRE_MODEL(dir, "light_tint");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const bool withModel : {false, true}) {
    SCOPED_TRACE(withModel ? "light_tint" : "pass-through");
    auto s = rmtest::mustCreate(withModel ? rmtest::modelConfig(dir) : rmtest::passthroughConfig());
    ASSERT_NE(s, nullptr);
    const auto img = greyImage();
    FrameView f = img.view();
    f.light = SceneLight{{0.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}};
    expectInvalidLight(s->submit(f), "sun");
    f.light = SceneLight{{0.0f, 1.0f, 0.0f}, {nan, 1.0f, 0.0f}};
    expectInvalidLight(s->submit(f), "up");
    f.light = SceneLight{{inf, 0.0f, 1.0f}, {0.0f, 1.0f, 0.0f}};
    expectInvalidLight(s->submit(f), "sun");

    // The owned frame is refused the same way and keeps its planes.
    realmaster::OwnedFrame owned(kW, kH, PixelFormat::Rgba8Srgb);
    fill(owned.color(), img.tight());
    owned.setLight({0.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f});
    expectInvalidLight(s->submitOwned(owned), "sun");
    EXPECT_EQ(owned.color().size(), img.tight().size()) << "a refused frame's planes stay with C++";

    // Nothing was processed; the next good frame is.
    EXPECT_EQ(s->stats().framesSubmitted, 0u);
    f.light = kLightA;
    ASSERT_TRUE(s->submit(f).ok());
    Output out;
    ASSERT_TRUE(rmtest::waitForOutput(*s, out, 0));
    EXPECT_EQ(out.enhanced(), withModel) << s->health().message;
  }
}

// submitOwned carries the light too (and the light stays set on the frame afterwards).
TEST(Light, OwnedFrameCarriesTheLight) {
  RM_REQUIRE_MODEL(dir, "light_tint");
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir));
  ASSERT_NE(s, nullptr);
  const auto img = greyImage();
  realmaster::OwnedFrame owned(kW, kH, PixelFormat::Rgba8Srgb);
  fill(owned.color(), img.tight());
  owned.setLight(kLightB);
  owned.setCameraCut(true);
  ASSERT_TRUE(s->submitOwned(owned).ok());
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 0));
  ASSERT_TRUE(out.enhanced()) << s->health().message;
  expectTint(rmtest::outputBytes(out), kLightB, "owned frame with light B");
  EXPECT_EQ(owned.light(), kLightB);
}

// sequence.json's "light" comes back per frame, and a sequence frame's view() submits it.
TEST(Io, SequenceLightComesBack) {
  const std::string lit = rmtest::testLightSequenceDir();
  const std::string plain = rmtest::testSequenceDir();
  ASSERT_FALSE(lit.empty()) << "the light test sequence path is compiled in by CMake";
  realmaster::io::SequenceFrame f;
  for (const std::uint32_t i : {0u, 1u, 5u, 11u}) {
    const Status st = realmaster::io::loadSequenceFrame(lit, i, f);
    ASSERT_TRUE(st.ok()) << st.message;
    ASSERT_TRUE(f.light().has_value()) << "frame " << i;
    expectNear(*f.light(), sequenceLight(int(i)), "frame " + std::to_string(i));
    EXPECT_EQ(f.view().light, f.light());
  }
  // The next frame loaded replaces the light, also with none (and any override).
  f.setLight(kLightA);
  ASSERT_TRUE(realmaster::io::loadSequenceFrame(plain, 0, f).ok());
  EXPECT_FALSE(f.light().has_value());
  EXPECT_FALSE(f.view().light.has_value());
  ASSERT_TRUE(realmaster::io::loadSequenceFrame(lit, 6, f).ok());
  expectNear(*f.light(), sequenceLight(6), "frame 6");
  EXPECT_TRUE(f.view().cameraCut) << "the light leaves the cut alone";

  // Submitted through view(), the light is the one the model sees.
  RM_REQUIRE_MODEL(dir, "light_tint");
  ASSERT_TRUE(realmaster::io::loadSequenceFrame(lit, 3, f).ok());
  const auto fromSequence = tinted(dir, f.view());
  FrameView same = f.view();
  same.light = sequenceLight(3);
  EXPECT_LT(rmtest::meanAbsDiff8(fromSequence, tinted(dir, same)), 0.5);
  same.light = std::nullopt;
  EXPECT_GT(rmtest::meanAbsDiff8(fromSequence, tinted(dir, same)), 5.0)
      << "frame 3's light differs from the fallback, so the comparison above means something";
}
