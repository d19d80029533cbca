// Host helpers: sequence folders through the Rust sequence reader, PNG output.
#include <fstream>

#include "test_util.hpp"

using realmaster::Status;
using realmaster::StatusCode;

TEST(Io, ReadsTheTestSequence) {
  const std::string dir = rmtest::testSequenceDir();
  ASSERT_FALSE(dir.empty()) << "the test sequence path is compiled in by CMake";
  realmaster::io::SequenceInfo info{};
  const Status st = realmaster::io::sequenceInfo(dir, info);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(info.width, 64u);
  EXPECT_EQ(info.height, 48u);
  EXPECT_EQ(info.frame_count, 12u);
  EXPECT_FALSE(info.has_depth);

  realmaster::io::SequenceFrame f;
  ASSERT_TRUE(realmaster::io::loadSequenceFrame(dir, 0, f).ok());
  auto v = f.view();
  EXPECT_EQ(v.format, realmaster::PixelFormat::Rgba8Srgb);
  EXPECT_EQ(v.color.sizeBytes, 64u * 48u * 4u);
  EXPECT_FALSE(v.cameraCut);
  EXPECT_FALSE(v.depth.present());
  ASSERT_TRUE(realmaster::io::loadSequenceFrame(dir, 6, f).ok());
  EXPECT_TRUE(f.view().cameraCut) << "frame 6 is listed in cuts";

  const Status past = realmaster::io::loadSequenceFrame(dir, 12, f);
  EXPECT_TRUE(past.is(StatusCode::Sequence)) << past.message;
}

TEST(Io, MissingSequenceAndBadPathsAreStatuses) {
  realmaster::io::SequenceInfo info{};
  EXPECT_TRUE(realmaster::io::sequenceInfo("/nonexistent/seq", info).is(StatusCode::Sequence));
  EXPECT_TRUE(realmaster::io::sequenceInfo(std::string("\xff", 1), info).is(StatusCode::Io));
}

TEST(Io, WritesOutputAsPng) {
  auto s = rmtest::mustCreate(rmtest::passthroughConfig());
  ASSERT_NE(s, nullptr);
  const auto img = rmtest::makeImage(16, 8, realmaster::PixelFormat::Rgba16Float);
  ASSERT_TRUE(s->submit(img.view()).ok());
  realmaster::Output out;
  ASSERT_TRUE(rmtest::waitForOutput(*s, out, 0));
  const std::string path = ::testing::TempDir() + "realmaster_bridge_test_out.png";
  const Status st = realmaster::io::writePng(path, out);
  ASSERT_TRUE(st.ok()) << st.message;
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  realmaster::Output empty;
  EXPECT_TRUE(realmaster::io::writePng(path, empty).is(StatusCode::InvalidFrame))
      << "an output never filled by latestOutput is refused";
}
