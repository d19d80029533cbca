// Frame layouts as engines hand them over: formats, row pitch, HDR, G-buffers, resolution changes.
// Without a model the output must be the input exactly (tightly packed), which makes every layout
// conversion in the bridge checkable to the byte.
#include "test_util.hpp"

using realmaster::FrameView;
using realmaster::Mode;
using realmaster::Output;
using realmaster::PixelFormat;
using realmaster::Status;
using realmaster::StatusCode;

namespace realmaster::ffi {
// Readable parameter names in gtest/ctest output.
void PrintTo(const PixelFormat &f, std::ostream *os) {
  *os << (f == PixelFormat::Rgba8Srgb     ? "Rgba8"
          : f == PixelFormat::Bgra8Srgb   ? "Bgra8"
          : f == PixelFormat::Rgba16Float ? "Rgba16F"
                                          : "Rgba32F");
}
} // namespace realmaster::ffi

namespace {

// Submits in cinematic mode (the output is then exactly this frame) and checks the round trip.
void expectRoundTrip(const realmaster::Session &s, const rmtest::TestImage &img,
                     std::uint64_t index) {
  const Status st = s.submit(img.view());
  ASSERT_TRUE(st.ok()) << st.message;
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(s, out, index));
  EXPECT_EQ(out.frameIndex(), index);
  EXPECT_EQ(out.width(), img.width);
  EXPECT_EQ(out.height(), img.height);
  EXPECT_EQ(out.format(), img.format);
  EXPECT_EQ(out.rowPitch(), img.rowBytes());
  EXPECT_FALSE(out.enhanced());
  EXPECT_TRUE(rmtest::outputBytes(out) == img.tight()) << "output differs from the unpadded input";
}

} // namespace

class Formats : public ::testing::TestWithParam<PixelFormat> {};

TEST_P(Formats, TightFrameRoundTrips) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  expectRoundTrip(*s, rmtest::makeImage(37, 21, GetParam()), 0);
}

TEST_P(Formats, RowPitchLargerThanRowIsHonoured) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  // 256-byte row alignment, as D3D12/Vulkan readbacks have.
  auto img = rmtest::makeImage(37, 21, GetParam());
  const std::size_t aligned = (img.rowBytes() + 255) / 256 * 256;
  img = rmtest::makeImage(37, 21, GetParam(), aligned - img.rowBytes() + 256);
  ASSERT_GT(img.pitch, img.rowBytes());
  expectRoundTrip(*s, img, 0);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, Formats,
                         ::testing::Values(PixelFormat::Rgba8Srgb, PixelFormat::Bgra8Srgb,
                                           PixelFormat::Rgba16Float, PixelFormat::Rgba32Float),
                         [](const auto &info) {
                           switch (info.param) {
                           case PixelFormat::Rgba8Srgb:
                             return std::string("Rgba8");
                           case PixelFormat::Bgra8Srgb:
                             return std::string("Bgra8");
                           case PixelFormat::Rgba16Float:
                             return std::string("Rgba16F");
                           default:
                             return std::string("Rgba32F");
                           }
                         });

TEST(Frames, HdrValuesAboveOneSurvive) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  const auto img = rmtest::makeImage(16, 8, PixelFormat::Rgba32Float);
  ASSERT_TRUE(s->submit(img.view()).ok());
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 0));
  float maxv = 0.0f;
  for (std::size_t i = 0; i < out.sizeBytes(); i += 4) {
    float v;
    std::memcpy(&v, out.data() + i, 4);
    maxv = std::max(maxv, v);
  }
  EXPECT_GT(maxv, 7.0f) << "HDR values must not be clamped to 1";
}

TEST(Frames, BgraAndRgbaKeepTheirOrder) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  std::vector<std::uint8_t> px = {10, 20, 30, 255}; // one pixel
  for (auto f : {PixelFormat::Bgra8Srgb, PixelFormat::Rgba8Srgb}) {
    ASSERT_TRUE(s->submit(FrameView::colorOnly(px.data(), 1, 1, f)).ok());
  }
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 1));
  EXPECT_EQ(out.format(), PixelFormat::Rgba8Srgb);
  EXPECT_EQ(rmtest::outputBytes(out), px);
}

TEST(Frames, GBufferPlanesWithPaddingAreAccepted) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  const std::uint32_t w = 20, h = 10;
  auto img = rmtest::makeImage(w, h, PixelFormat::Rgba8Srgb, 48);
  auto depth = rmtest::makePlane(w, h, 1, 16, 1.0f);
  auto normals = rmtest::makePlane(w, h, 3, 4, 0.0f);
  auto motion = rmtest::makePlane(w, h, 2, 0, -1.0f);
  FrameView f = img.view();
  f.depth = {depth.data(), depth.size(), w * 4 + 16};
  f.normals = {normals.data(), normals.size(), w * 12 + 4};
  f.motion = {motion.data(), motion.size(), 0};
  f.cameraCut = true;
  const Status st = s->submit(f);
  ASSERT_TRUE(st.ok()) << st.message;
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 0));
  EXPECT_EQ(rmtest::outputBytes(out), img.tight());
}

TEST(Frames, ResolutionChangeMidStream) {
  for (auto mode : {Mode::Cinematic, Mode::Realtime}) {
    auto s = rmtest::mustCreate(rmtest::passthroughConfig(mode));
    ASSERT_NE(s, nullptr);
    const std::uint32_t sizes[][2] = {{64, 48}, {32, 20}, {33, 17}, {64, 48}};
    std::uint64_t index = 0;
    for (auto &wh : sizes) {
      const auto img = rmtest::makeImage(wh[0], wh[1], PixelFormat::Rgba8Srgb, 0, int(index));
      ASSERT_TRUE(s->submit(img.view()).ok());
      Output out;
      ASSERT_TRUE(rmtest::waitForOutput(*s, out, index));
      EXPECT_EQ(out.width(), wh[0]);
      EXPECT_EQ(out.height(), wh[1]);
      EXPECT_EQ(rmtest::outputBytes(out), img.tight());
      ++index;
    }
  }
}

TEST(Frames, RealtimeNewestFrameWinsAndCountsAddUp) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig(Mode::Realtime));
  ASSERT_NE(s, nullptr);
  const int n = 40;
  rmtest::TestImage last;
  for (int i = 0; i < n; ++i) {
    last = rmtest::makeImage(24, 16, PixelFormat::Rgba8Srgb, 0, i);
    ASSERT_TRUE(s->submit(last.view()).ok());
  }
  Output out;
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, n - 1));
  EXPECT_EQ(out.frameIndex(), std::uint64_t(n - 1));
  EXPECT_EQ(rmtest::outputBytes(out), last.tight());
  const auto st = s->stats();
  EXPECT_EQ(st.framesSubmitted, std::uint64_t(n));
  EXPECT_EQ(st.framesOutput + st.framesDropped, std::uint64_t(n))
      << "every frame is either processed or replaced by a newer one";
}

TEST(Frames, ShortBufferIsRefusedWithAReason) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  std::vector<std::uint8_t> px(10 * 10 * 4 - 1);
  FrameView f = FrameView::colorOnly(px.data(), 10, 10, PixelFormat::Rgba8Srgb);
  f.color.sizeBytes = px.size(); // the real allocation, one byte short
  const Status st = s->submit(f);
  EXPECT_TRUE(st.is(StatusCode::InvalidFrame)) << st.message;
  EXPECT_NE(st.message.find("needs 400"), std::string::npos) << st.message;
}

TEST(Frames, PitchSmallerThanRowIsRefused) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  std::vector<std::uint8_t> px(4096);
  const Status st = s->submit(FrameView::colorOnly(px.data(), 10, 10, PixelFormat::Rgba8Srgb, 39));
  EXPECT_TRUE(st.is(StatusCode::InvalidFrame)) << st.message;
  EXPECT_NE(st.message.find("pitch"), std::string::npos) << st.message;
}

TEST(Frames, ZeroSizeEmptyColorAndUnknownFormatAreRefused) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  std::vector<std::uint8_t> px(64);
  EXPECT_TRUE(s->submit(FrameView::colorOnly(px.data(), 0, 4, PixelFormat::Rgba8Srgb))
                  .is(StatusCode::InvalidFrame));
  EXPECT_TRUE(s->submit(FrameView::colorOnly(nullptr, 4, 4, PixelFormat::Rgba8Srgb))
                  .is(StatusCode::InvalidFrame));
  FrameView f = FrameView::colorOnly(px.data(), 2, 2, PixelFormat::Rgba8Srgb);
  f.format = static_cast<PixelFormat>(42);
  const Status st = s->submit(f);
  EXPECT_TRUE(st.is(StatusCode::InvalidFrame)) << st.message;
  EXPECT_NE(st.message.find("42"), std::string::npos) << st.message;
  EXPECT_EQ(s->stats().framesSubmitted, 0u) << "refused frames are not counted";
}

TEST(Frames, MisalignedFloatPlanePitchIsRefused) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  auto img = rmtest::makeImage(8, 4, PixelFormat::Rgba8Srgb);
  std::vector<std::uint8_t> depth(8 * 4 * 4 + 64);
  FrameView f = img.view();
  f.depth = {depth.data(), depth.size(), 8 * 4 + 2};
  const Status st = s->submit(f);
  EXPECT_TRUE(st.is(StatusCode::InvalidFrame)) << st.message;
}

// submitOwned moves the planes into the session (no copy) and hands recycled buffers back; the
// output is the frame exactly (no model), and a second frame reuses the recycled capacity.
TEST(Frames, SubmitOwnedMovesThePlanesAndRecyclesBuffers) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  const std::uint32_t w = 24, h = 12;
  realmaster::OwnedFrame frame(w, h, PixelFormat::Rgba8Srgb);
  for (int i = 0; i < 2; ++i) {
    const auto img = rmtest::makeImage(w, h, PixelFormat::Rgba8Srgb, 0, std::uint8_t(i * 40));
    const auto pixels = img.tight();
    frame.color().clear();
    for (auto b : pixels) {
      frame.color().push_back(b);
    }
    const auto depth = rmtest::makePlane(w, h, 1, 0, 2.0f);
    frame.depth().clear();
    for (auto b : depth) {
      frame.depth().push_back(b);
    }
    const std::uint8_t *before = frame.color().data();
    const Status st = s->submitOwned(frame);
    ASSERT_TRUE(st.ok()) << st.message;
    // The session kept our buffer: what we hold now is another one.
    EXPECT_NE(frame.color().data(), before);
    Output out;
    ASSERT_TRUE(rmtest::waitForOutput(*s, out, std::uint64_t(i)));
    EXPECT_EQ(rmtest::outputBytes(out), pixels);
  }
  // A bad frame is refused with a reason and nothing is lost.
  realmaster::OwnedFrame empty(w, h, PixelFormat::Rgba8Srgb);
  const Status st = s->submitOwned(empty);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message.find("fix"), std::string::npos) << st.message;
}
