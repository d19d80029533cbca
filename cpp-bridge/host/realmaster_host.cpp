// realmaster_host: a minimal C++ host, written the way an engine integration would be. It reads a
// sequence folder (docs/formats.md) through the bridge, submits every frame with its G-buffers,
// and writes the composited output frames as PNG.
//
//   realmaster_host --sequence DIR --out DIR [--model DIR] [--prompt P] [--strength S]
//                   [--mode cinematic|realtime] [--ep cpu|cuda|...] [--ort LIB] [--expect-frames N]
//                   [--soak-seconds S]
//
// Cinematic mode (default) writes one output per input frame. Realtime mode submits at the
// sequence's fps without waiting and writes whatever output is newest after each frame, so it
// shows what a game would display (outputs lag behind and frames get dropped when inference is
// slow).
//
// --soak-seconds S: realtime soak. The sequence is loaded once and replayed at its fps for S
// seconds (no PNGs); every 5 s a line gives the resident memory (VmRSS), the number of memory
// mappings and the frame counters, so a long run shows whether memory grows (scripts/soak_host.sh).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "realmaster/realmaster.hpp"

namespace {

struct Args {
  std::string sequence, out, model, prompt, ep, ort;
  float strength = 1.0f;
  bool realtime = false;
  long expectFrames = -1;
  double soakSeconds = 0.0;
};

void usage() {
  std::fprintf(stderr, "usage: realmaster_host --sequence DIR --out DIR [--model DIR] "
                       "[--prompt P] [--strength S] [--mode cinematic|realtime] [--ep EP] "
                       "[--ort LIB] [--expect-frames N] [--soak-seconds S]\n");
}

bool parse(int argc, char **argv, Args &a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "missing value after %s\n", k.c_str());
      return false;
    }
    const std::string v = argv[++i];
    if (k == "--sequence") {
      a.sequence = v;
    } else if (k == "--out") {
      a.out = v;
    } else if (k == "--model") {
      a.model = v;
    } else if (k == "--prompt") {
      a.prompt = v;
    } else if (k == "--strength") {
      a.strength = std::strtof(v.c_str(), nullptr);
    } else if (k == "--mode") {
      if (v != "cinematic" && v != "realtime") {
        std::fprintf(stderr, "--mode must be cinematic or realtime\n");
        return false;
      }
      a.realtime = v == "realtime";
    } else if (k == "--ep") {
      a.ep = v;
    } else if (k == "--ort") {
      a.ort = v;
    } else if (k == "--soak-seconds") {
      a.soakSeconds = std::strtod(v.c_str(), nullptr);
      if (!(a.soakSeconds > 0.0)) {
        std::fprintf(stderr, "--soak-seconds must be a positive number\n");
        return false;
      }
    } else if (k == "--expect-frames") {
      a.expectFrames = std::strtol(v.c_str(), nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return false;
    }
  }
  return !a.sequence.empty() && !a.out.empty();
}

std::string framePath(const std::string &dir, std::uint64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "%04llu.png", static_cast<unsigned long long>(index));
  return (std::filesystem::path(dir) / name).string();
}

/// Resident memory in kB (VmRSS) and the number of mappings of this process; -1 where unknown.
std::pair<long, long> memoryNow() {
  long rss = -1;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      rss = std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  long maps = 0;
  std::ifstream m("/proc/self/maps");
  for (std::string line; std::getline(m, line);) {
    ++maps;
  }
  return {rss, m.eof() ? maps : -1};
}

/// Replays `frames` at `fps` in realtime mode for `seconds`, printing a memory sample every 5 s.
int soak(realmaster::Session &session, const std::vector<realmaster::io::SequenceFrame> &frames,
         double fps, double seconds) {
  using clock = std::chrono::steady_clock;
  const auto period = std::chrono::duration<double>(fps > 0 ? 1.0 / fps : 1.0 / 24.0);
  const auto t0 = clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  auto nextSample = t0;
  realmaster::Output output;
  std::uint64_t enhanced = 0, outputs = 0, lastIndex = ~0ull;
  std::printf("soak: seconds rss_kb maps submitted output dropped inferences enhanced_seen\n");
  for (std::uint64_t i = 0;; ++i) {
    const auto now = clock::now();
    if (now >= nextSample || now >= end) {
      const auto [rss, maps] = memoryNow();
      const realmaster::Stats st = session.stats();
      std::printf("soak: %.1f %ld %ld %llu %llu %llu %llu %llu\n",
                  std::chrono::duration<double>(now - t0).count(), rss, maps,
                  static_cast<unsigned long long>(st.framesSubmitted),
                  static_cast<unsigned long long>(st.framesOutput),
                  static_cast<unsigned long long>(st.framesDropped),
                  static_cast<unsigned long long>(st.inferences),
                  static_cast<unsigned long long>(enhanced));
      std::fflush(stdout);
      nextSample += std::chrono::seconds(5);
      if (now >= end) {
        break;
      }
    }
    const realmaster::Status st = session.submit(frames[i % frames.size()].view());
    if (!st) {
      std::fprintf(stderr, "error: submit frame %llu: %s\n", static_cast<unsigned long long>(i),
                   st.message.c_str());
      return 1;
    }
    if (session.latestOutput(output) && output.frameIndex() != lastIndex) {
      lastIndex = output.frameIndex();
      ++outputs;
      enhanced += output.enhanced() ? 1 : 0;
    }
    std::this_thread::sleep_until(t0 + static_cast<double>(i + 1) * period);
  }
  const realmaster::Status h = session.health();
  std::printf("soak: done, %llu distinct outputs seen, health %s\n",
              static_cast<unsigned long long>(outputs), h.ok() ? "ok" : h.message.c_str());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Args args;
  if (!parse(argc, argv, args)) {
    usage();
    return 2;
  }

  realmaster::io::SequenceInfo info{};
  realmaster::Status st = realmaster::io::sequenceInfo(args.sequence, info);
  if (!st) {
    std::fprintf(stderr, "error: %s\n", st.message.c_str());
    return 1;
  }

  realmaster::Config config;
  config.modelDir = args.model;
  config.prompt = args.prompt;
  config.strength = args.strength;
  config.mode = args.realtime ? realmaster::Mode::Realtime : realmaster::Mode::Cinematic;
  if (!args.ep.empty()) {
    config.executionProvider = args.ep;
  }
  config.ortLibrary = args.ort;
  auto session = realmaster::Session::create(config, st);
  if (!session) {
    std::fprintf(stderr, "error: cannot create the session: %s\n", st.message.c_str());
    return 1;
  }
  const realmaster::Status health = session->health();
  std::printf(
      "realmaster %s: %ux%u, %u frames, EP %s%s%s\n", realmaster::version().c_str(), info.width,
      info.height, info.frame_count, session->executionProvider().c_str(),
      health.ok() ? "" : " (pass-through: ", health.ok() ? "" : (health.message + ")").c_str());

  std::error_code ec;
  std::filesystem::create_directories(args.out, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", args.out.c_str(), ec.message().c_str());
    return 1;
  }

  if (args.soakSeconds > 0.0) {
    if (!args.realtime) {
      std::fprintf(stderr, "error: --soak-seconds needs --mode realtime\n");
      return 2;
    }
    std::vector<realmaster::io::SequenceFrame> frames(info.frame_count);
    for (std::uint32_t i = 0; i < info.frame_count; ++i) {
      st = realmaster::io::loadSequenceFrame(args.sequence, i, frames[i]);
      if (!st) {
        std::fprintf(stderr, "error: frame %u: %s\n", i, st.message.c_str());
        return 1;
      }
    }
    return soak(*session, frames, info.fps, args.soakSeconds);
  }

  realmaster::io::SequenceFrame frame;
  realmaster::Output output;
  long written = 0;
  std::uint64_t lastWritten = ~0ull;
  const auto framePeriod = std::chrono::duration<double>(info.fps > 0 ? 1.0 / info.fps : 0.0);
  const auto t0 = std::chrono::steady_clock::now();

  auto writeNewest = [&]() -> bool {
    if (!session->latestOutput(output) || output.frameIndex() == lastWritten) {
      return true;
    }
    const realmaster::Status w =
        realmaster::io::writePng(framePath(args.out, output.frameIndex()), output);
    if (!w) {
      std::fprintf(stderr, "error: %s\n", w.message.c_str());
      return false;
    }
    lastWritten = output.frameIndex();
    ++written;
    return true;
  };

  for (std::uint32_t i = 0; i < info.frame_count; ++i) {
    st = realmaster::io::loadSequenceFrame(args.sequence, i, frame);
    if (!st) {
      std::fprintf(stderr, "error: frame %u: %s\n", i, st.message.c_str());
      return 1;
    }
    st = session->submit(frame.view());
    if (!st) {
      std::fprintf(stderr, "error: submit frame %u: %s\n", i, st.message.c_str());
      return 1;
    }
    if (!writeNewest()) {
      return 1;
    }
    if (args.realtime) {
      std::this_thread::sleep_until(t0 + (i + 1) * framePeriod);
    }
  }
  if (args.realtime) {
    // Let the last frame finish so the final image is on disk.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (lastWritten + 1 != info.frame_count && std::chrono::steady_clock::now() < deadline) {
      if (!writeNewest()) {
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  const realmaster::Stats stats = session->stats();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %ld frames to %s in %.2f s; submitted %llu, output %llu, dropped %llu, "
              "inferences %llu, last inference %.2f ms; enhanced %llu (reprojected %llu), "
              "failed %llu (model faults %llu), G-buffer values replaced in %llu\n",
              written, args.out.c_str(), seconds,
              static_cast<unsigned long long>(stats.framesSubmitted),
              static_cast<unsigned long long>(stats.framesOutput),
              static_cast<unsigned long long>(stats.framesDropped),
              static_cast<unsigned long long>(stats.inferences), stats.lastInferenceMs,
              static_cast<unsigned long long>(stats.framesEnhanced),
              static_cast<unsigned long long>(stats.framesReprojected),
              static_cast<unsigned long long>(stats.framesFailed),
              static_cast<unsigned long long>(stats.modelFaults),
              static_cast<unsigned long long>(stats.framesSanitized));
  if (args.expectFrames >= 0 && written != args.expectFrames) {
    std::fprintf(stderr, "error: expected %ld output frames, wrote %ld\n", args.expectFrames,
                 written);
    return 1;
  }
  return 0;
}
