// A `kind: diffusion` package exported by the RealMaster method toolkit (models/method) through the
// C++ bridge: tests/python/make_method_package.py runs make-tiny's Wan -> train-iclora ->
// distill-steps (K = 2) -> export as ctest's fixture_method_package, so the graphs are the
// toolkit's own (tiny random weights: a test fixture, not a look).
#include "test_util.hpp"

#include <fstream>
#include <sstream>

using realmaster::Mode;
using realmaster::Output;
using realmaster::PixelFormat;
using realmaster::Status;

namespace {

#ifndef REALMASTER_TEST_METHOD_PACKAGE_DEFAULT
#define REALMASTER_TEST_METHOD_PACKAGE_DEFAULT ""
#endif

std::string methodPackage() {
  const std::string dir =
      rmtest::env("REALMASTER_TEST_METHOD_PACKAGE", REALMASTER_TEST_METHOD_PACKAGE_DEFAULT);
  return rmtest::isDir(dir) ? dir : std::string();
}

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr std::uint32_t kWidth = 64;
constexpr std::uint32_t kHeight = 32;
constexpr int kFrames = 4;

/// Submits kFrames frames to a fresh cinematic session and returns each output's bytes.
std::vector<std::vector<std::uint8_t>> runFrames(const std::string &dir,
                                                 const std::vector<rmtest::TestImage> &frames) {
  std::vector<std::vector<std::uint8_t>> outs;
  auto s = rmtest::mustCreate(rmtest::modelConfig(dir, Mode::Cinematic));
  if (!s) {
    return outs;
  }
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Status st = s->submit(frames[i].view());
    EXPECT_TRUE(st.ok()) << st.message;
    Output out;
    EXPECT_TRUE(rmtest::waitForOutput(*s, out, i));
    EXPECT_TRUE(out.enhanced()) << "frame " << i << ": " << s->health().message;
    EXPECT_EQ(out.width(), kWidth);
    EXPECT_EQ(out.height(), kHeight);
    outs.push_back(rmtest::outputBytes(out));
  }
  EXPECT_TRUE(s->health().ok()) << s->health().message;
  const auto stats = s->stats();
  EXPECT_EQ(stats.framesEnhanced, std::uint64_t(frames.size()));
  EXPECT_EQ(stats.framesFailed, 0u);
  EXPECT_EQ(stats.modelFaults, 0u);
  EXPECT_EQ(stats.executionProvider, "cpu");
  return outs;
}

} // namespace

TEST(Diffusion, MethodPackageEnhancesDeterministicallyAndChangesTheImage) {
  const std::string dir = methodPackage();
  ASSERT_FALSE(dir.empty())
      << "the method package was not generated: run ctest (fixture_method_package) or "
         "tests/python/make_method_package.py --out DIR and set REALMASTER_TEST_METHOD_PACKAGE";
  const std::string manifest = readFile(dir + "/manifest.json");
  ASSERT_NE(manifest.find("\"kind\": \"diffusion\""), std::string::npos) << manifest;

  std::vector<rmtest::TestImage> frames;
  for (int i = 0; i < kFrames; ++i) {
    frames.push_back(rmtest::makeImage(kWidth, kHeight, PixelFormat::Rgba8Srgb, 16, i));
  }
  const auto a = runFrames(dir, frames);
  const auto b = runFrames(dir, frames);
  ASSERT_EQ(a.size(), std::size_t(kFrames));
  ASSERT_EQ(b.size(), std::size_t(kFrames));
  for (int i = 0; i < kFrames; ++i) {
    // Cinematic mode with the runtime's seeded noise: two sessions give the same bytes.
    EXPECT_EQ(a[i], b[i]) << "frame " << i << " differs between two sessions";
    // The tiny random Wan's output is not the input frame.
    EXPECT_GT(rmtest::meanAbsDiff8(a[i], frames[i].tight()), 2.0) << "frame " << i;
  }
}
