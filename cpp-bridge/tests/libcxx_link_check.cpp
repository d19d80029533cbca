// Built by cmake/check_libcxx_link.cmake with clang++ -stdlib=libc++ -fno-exceptions, the way
// Unreal builds its Linux modules: the cxx runtime and the generated bridge compiled with libc++,
// linked against the Rust static library without libstdc++. Built twice, as C++17 and as C++20
// without RTTI (Unreal 5.3+), so it must stay valid in both. Runs one frame through a session.
#include <cstdio>
#include <vector>

#include "realmaster/realmaster.hpp"

int main() {
  realmaster::Status st;
  realmaster::Config config;
  config.mode = realmaster::Mode::Cinematic;
  auto session = realmaster::Session::create(config, st);
  if (!session) {
    std::fprintf(stderr, "create failed: %s\n", st.message.c_str());
    return 1;
  }
  std::vector<unsigned char> px(8 * 4 * 4);
  for (std::size_t i = 0; i < px.size(); ++i) {
    px[i] = static_cast<unsigned char>(i);
  }
  st = session->submit(
      realmaster::FrameView::colorOnly(px.data(), 8, 4, realmaster::PixelFormat::Bgra8Srgb));
  realmaster::Output out;
  if (!st.ok() || !session->latestOutput(out) || out.sizeBytes() != px.size()) {
    std::fprintf(stderr, "round trip failed: %s\n", st.message.c_str());
    return 1;
  }
  for (std::size_t i = 0; i < px.size(); ++i) {
    if (out.data()[i] != px[i]) {
      std::fprintf(stderr, "byte %zu differs\n", i);
      return 1;
    }
  }
  std::printf("libc++ build of the bridge: round trip ok\n");
  return 0;
}
