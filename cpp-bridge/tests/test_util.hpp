// Shared helpers of the C++ bridge tests: synthetic frames, waiting for outputs, test models.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "realmaster/realmaster.hpp"

namespace rmtest {

/// An environment variable, else the build's default (CMake compiles the test data paths in).
inline std::string env(const char *name, const char *fallback = "") {
  const char *v = std::getenv(name);
  return v && *v ? std::string(v) : std::string(fallback);
}

#ifndef REALMASTER_TEST_MODELS_DEFAULT
#define REALMASTER_TEST_MODELS_DEFAULT ""
#endif
#ifndef REALMASTER_TEST_SEQUENCE_DEFAULT
#define REALMASTER_TEST_SEQUENCE_DEFAULT ""
#endif
#ifndef REALMASTER_TEST_LIGHT_SEQUENCE_DEFAULT
#define REALMASTER_TEST_LIGHT_SEQUENCE_DEFAULT ""
#endif
#ifndef REALMASTER_TEST_ORT_LIB_DEFAULT
#define REALMASTER_TEST_ORT_LIB_DEFAULT ""
#endif

inline std::string testModelsDir() {
  return env("REALMASTER_TEST_MODELS", REALMASTER_TEST_MODELS_DEFAULT);
}
inline std::string testSequenceDir() {
  return env("REALMASTER_TEST_SEQUENCE", REALMASTER_TEST_SEQUENCE_DEFAULT);
}
/// The test sequence with a light per frame (make_test_sequence.py --light).
inline std::string testLightSequenceDir() {
  return env("REALMASTER_TEST_LIGHT_SEQUENCE", REALMASTER_TEST_LIGHT_SEQUENCE_DEFAULT);
}
inline std::string ortLibrary() {
  return env("REALMASTER_ORT_LIB", REALMASTER_TEST_ORT_LIB_DEFAULT);
}

inline bool isDir(const std::string &path) {
  return !path.empty() && std::ifstream(path + "/manifest.json").good();
}

/// Folder of a test model package (tests/python/make_test_models.py), or "" if not generated.
inline std::string modelDir(const std::string &name) {
  const std::string root = testModelsDir();
  if (root.empty()) {
    return {};
  }
  const std::string dir = root + "/" + name;
  return isDir(dir) ? dir : std::string();
}

/// Tests that need a model fail when it is missing: ctest's fixture_test_models generates them
/// with tests/python/make_test_models.py.
#define RM_REQUIRE_MODEL(var, name)                                                                \
  const std::string var = rmtest::modelDir(name);                                                  \
  if (var.empty()) {                                                                               \
    GTEST_FAIL() << "test model '" << name                                                         \
                 << "' not generated: run ctest (fixture_test_models) or make_test_models.py";     \
  }

inline realmaster::Config passthroughConfig(realmaster::Mode mode = realmaster::Mode::Cinematic) {
  realmaster::Config c;
  c.mode = mode;
  return c;
}

inline realmaster::Config modelConfig(const std::string &dir,
                                      realmaster::Mode mode = realmaster::Mode::Cinematic) {
  realmaster::Config c;
  c.modelDir = dir;
  c.ortLibrary = ortLibrary();
  c.executionProvider = "cpu";
  c.mode = mode;
  return c;
}

inline std::unique_ptr<realmaster::Session> mustCreate(const realmaster::Config &c) {
  realmaster::Status st;
  auto s = realmaster::Session::create(c, st);
  EXPECT_TRUE(st.ok()) << st.message;
  EXPECT_NE(s, nullptr);
  return s;
}

/// A padded frame buffer with a deterministic pattern (padding bytes = 0xEE).
struct TestImage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  realmaster::PixelFormat format = realmaster::PixelFormat::Rgba8Srgb;
  std::size_t pitch = 0;
  std::vector<std::uint8_t> bytes;

  std::size_t rowBytes() const { return std::size_t(width) * realmaster::bytesPerPixel(format); }
  realmaster::FrameView view() const {
    auto f = realmaster::FrameView::colorOnly(bytes.data(), width, height, format, pitch);
    f.color.sizeBytes = bytes.size();
    return f;
  }
  /// The pixels without row padding: what a tightly packed output must equal.
  std::vector<std::uint8_t> tight() const {
    std::vector<std::uint8_t> t;
    t.reserve(rowBytes() * height);
    for (std::uint32_t y = 0; y < height; ++y) {
      const auto *row = bytes.data() + y * pitch;
      t.insert(t.end(), row, row + rowBytes());
    }
    return t;
  }
};

inline std::uint16_t f32ToF16(float v) {
  // Exact for the values the tests use (small integers and halves, no denormals).
  std::uint32_t b;
  std::memcpy(&b, &v, 4);
  const std::uint32_t sign = (b >> 16) & 0x8000u;
  const int exp = int((b >> 23) & 0xff) - 127 + 15;
  const std::uint32_t mant = (b >> 13) & 0x3ffu;
  if ((b & 0x7fffffffu) == 0) {
    return std::uint16_t(sign);
  }
  return std::uint16_t(sign | (std::uint32_t(exp) << 10) | mant);
}

/// 8-bit formats: a smooth gradient; float formats: HDR values up to ~8 (above 1 on purpose).
inline TestImage makeImage(std::uint32_t w, std::uint32_t h, realmaster::PixelFormat format,
                           std::size_t padding = 0, int seed = 0) {
  TestImage img;
  img.width = w;
  img.height = h;
  img.format = format;
  img.pitch = img.rowBytes() + padding;
  img.bytes.assign(img.pitch * h, 0xEE);
  for (std::uint32_t y = 0; y < h; ++y) {
    auto *row = img.bytes.data() + y * img.pitch;
    for (std::uint32_t x = 0; x < w; ++x) {
      const float r = float((x * 7 + seed * 13) % 64) / 8.0f; // 0..7.875
      const float g = float((y * 5 + seed) % 32) / 8.0f;
      const float b = float((x + y) % 16) / 4.0f;
      switch (format) {
      case realmaster::PixelFormat::Rgba8Srgb:
      case realmaster::PixelFormat::Bgra8Srgb: {
        std::uint8_t px[4] = {std::uint8_t((x * 255) / (w > 1 ? w - 1 : 1)),
                              std::uint8_t((y * 255) / (h > 1 ? h - 1 : 1)),
                              std::uint8_t((x * y + seed * 31) % 256), 255};
        std::memcpy(row + x * 4, px, 4);
        break;
      }
      case realmaster::PixelFormat::Rgba16Float: {
        const std::uint16_t px[4] = {f32ToF16(r), f32ToF16(g), f32ToF16(b), f32ToF16(1.0f)};
        std::memcpy(row + x * 8, px, 8);
        break;
      }
      case realmaster::PixelFormat::Rgba32Float: {
        const float px[4] = {r, g, b, 1.0f};
        std::memcpy(row + x * 16, px, 16);
        break;
      }
      }
    }
  }
  return img;
}

/// A float plane (depth: c=1, normals: c=3, motion: c=2) with `padding` bytes per row.
inline std::vector<std::uint8_t> makePlane(std::uint32_t w, std::uint32_t h, int channels,
                                           std::size_t padding, float base) {
  const std::size_t pitch = std::size_t(w) * channels * 4 + padding;
  std::vector<std::uint8_t> v(pitch * h, 0);
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        const float f = base + float(x + y + c) * 0.25f;
        std::memcpy(v.data() + y * pitch + (std::size_t(x) * channels + c) * 4, &f, 4);
      }
    }
  }
  return v;
}

/// Poll until the output for submit number `index` (or a later one) is available.
inline bool waitForOutput(const realmaster::Session &s, realmaster::Output &out,
                          std::uint64_t index,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (s.latestOutput(out) && out.frameIndex() >= index) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

inline std::vector<std::uint8_t> outputBytes(const realmaster::Output &o) {
  return std::vector<std::uint8_t>(o.data(), o.data() + o.sizeBytes());
}

/// Mean absolute difference of the RGB channels of two tight 8-bit RGBA/BGRA buffers (0..255).
inline double meanAbsDiff8(const std::vector<std::uint8_t> &a, const std::vector<std::uint8_t> &b) {
  if (a.size() != b.size() || a.empty()) {
    return 1e9;
  }
  double sum = 0.0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i % 4 == 3) {
      continue;
    }
    sum += std::abs(int(a[i]) - int(b[i]));
    ++n;
  }
  return sum / double(n);
}

/// Mean of channel `c` of a tight 8-bit 4-channel buffer.
inline double channelMean8(const std::vector<std::uint8_t> &v, int c) {
  double sum = 0.0;
  for (std::size_t i = std::size_t(c); i < v.size(); i += 4) {
    sum += v[i];
  }
  return sum / double(v.size() / 4);
}

} // namespace rmtest
