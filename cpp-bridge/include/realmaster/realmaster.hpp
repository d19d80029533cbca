// RealMaster Live for C++ engines: a small RAII wrapper over the cxx bridge (rust/realmaster-ffi).
//
// Integration in four lines:
//
//   realmaster::Config config;                        // the runtime's defaults
//   config.modelDir = "models/realmaster-student";
//   realmaster::Status status;
//   auto session = realmaster::Session::create(config, status);   // nullptr + status on failure
//
// then, per frame, on the render (or readback) thread:
//
//   session->submit(realmaster::FrameView::colorOnly(pixels, w, h, PixelFormat::Bgra8Srgb, pitch));
//   if (session->latestOutput(output)) upload(output.data(), output.rowPitch());
//
// Models that read the scene's light (a manifest input with role `light`) also want the sun and the
// world's up in view space, per frame: `frame.light = realmaster::SceneLight{sun, up};` (see
// SceneLight; without one such a model assumes SceneLight::fallback()).
//
// Contract for engine integrators:
// - No exceptions: every fallible call returns a Status (code 0 = ok; message names the problem
//   and the fix). Nothing here throws, and no Rust panic unwinds into C++ (the bridge reports it
//   as StatusCode::Internal). Builds with -fno-exceptions / without /EHsc are fine.
// - Threads: every Session method may be called concurrently from any thread (e.g. submit from
//   the render thread, setPrompt from the game thread, stats from a UI thread). Destroy the
//   session only when no other thread is inside one of its calls; destruction waits for the
//   worker threads (an inference in flight finishes first).
// - Realtime mode: submit() validates the layout and copies the frame (it never waits for
//   inference); the newest frame wins. Cinematic mode: submit() returns when that frame's
//   output is ready, so latestOutput() then holds exactly that frame.
// - Memory: FrameView only borrows; the caller's buffers may be reused as soon as submit returns.
// - Output: latestOutput() writes the newest finished frame (same size and format as the
//   submitted frame, tightly packed). Reuse one Output object: its buffer is recycled.
// - On any failure the output is the untouched input frame, never black; health() says why.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realmaster-ffi/src/bridge.rs.h"
#include "rust/cxx.h"

namespace realmaster {

using PixelFormat = ffi::PixelFormat;
using Mode = ffi::Mode;
using StatusCode = ffi::StatusCode;

/// Bytes per pixel of a color format (4 for 8-bit, 8 for RGBA16F, 16 for RGBA32F).
constexpr std::size_t bytesPerPixel(PixelFormat format) noexcept {
  switch (format) {
  case PixelFormat::Rgba8Srgb:
  case PixelFormat::Bgra8Srgb:
    return 4;
  case PixelFormat::Rgba16Float:
    return 8;
  case PixelFormat::Rgba32Float:
    return 16;
  }
  return 0;
}

/// Bytes per pixel of the auxiliary planes (all little-endian f32).
constexpr std::size_t kDepthBytesPerPixel = 4;    // view-space z, metres
constexpr std::size_t kNormalsBytesPerPixel = 12; // view-space unit normal, z towards camera
constexpr std::size_t kMotionBytesPerPixel = 8;   // pixels, current -> previous frame

/// Outcome of a call: code 0 = ok, otherwise a StatusCode with a message (problem and fix).
struct Status {
  std::uint32_t code = 0;
  std::string message;

  bool ok() const noexcept { return code == 0; }
  explicit operator bool() const noexcept { return ok(); }
  bool is(StatusCode c) const noexcept { return code == static_cast<std::uint32_t>(c); }

  static Status fromFfi(const ffi::Status &s) { return Status{s.code, std::string(s.message)}; }
};

/// The scene's light for one frame, for models that read it (a manifest input with role `light`):
/// the direction towards the sun and the world's up direction, both in the view space of the
/// normals plane (x right, y up, z towards the camera), so they change whenever the camera turns.
/// Any non-zero length (the runtime normalises); a zero or non-finite vector is refused with
/// StatusCode::InvalidFrame and a message naming it. A frame without a light, given to a model that
/// reads one, is processed with fallback() (the runtime warns once); other models ignore the light.
struct SceneLight {
  std::array<float, 3> sun{}; // towards the sun
  std::array<float, 3> up{};  // the world's up

  /// What the runtime assumes when a frame gives no light: the sun 45 degrees up behind the
  /// camera, (0, 0.7071, 0.7071), and the world level with the view, up = (0, 1, 0). A guess:
  /// hosts should pass their own directional light.
  static constexpr SceneLight fallback() noexcept {
    return SceneLight{{0.0f, 0.70710678118654752f, 0.70710678118654752f}, {0.0f, 1.0f, 0.0f}};
  }

  friend bool operator==(const SceneLight &a, const SceneLight &b) noexcept {
    return a.sun == b.sun && a.up == b.up;
  }
  friend bool operator!=(const SceneLight &a, const SceneLight &b) noexcept { return !(a == b); }
};

/// A light in the bridge's form; no light is the value-initialised struct (present = false).
inline ffi::Light lightToFfi(const std::optional<SceneLight> &light) noexcept {
  return light ? ffi::Light{true, light->sun, light->up} : ffi::Light{};
}

/// The light a bridge struct carries, if any.
inline std::optional<SceneLight> lightFromFfi(const ffi::Light &light) noexcept {
  if (!light.present) {
    return std::nullopt;
  }
  return SceneLight{light.sun, light.up};
}

/// One borrowed plane: start, total bytes available, distance between row starts (0 = tight).
struct Plane {
  const void *data = nullptr;
  std::size_t sizeBytes = 0;
  std::size_t rowPitch = 0;

  bool present() const noexcept { return data != nullptr && sizeBytes != 0; }
};

/// A frame as the engine has it. Only `color` is required; absent planes stay default.
struct FrameView {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  PixelFormat format = PixelFormat::Rgba8Srgb;
  Plane color;
  Plane depth;   // f32 x1
  Plane normals; // f32 x3
  Plane motion;  // f32 x2
  /// This frame starts a new shot (the engine knows about cuts before the runtime can guess).
  bool cameraCut = false;
  /// The scene's light in the normals' view space (see SceneLight); empty = none given.
  std::optional<SceneLight> light;

  /// A color-only frame; rowPitch 0 = width * bytesPerPixel(format).
  static FrameView colorOnly(const void *data, std::uint32_t width, std::uint32_t height,
                             PixelFormat format, std::size_t rowPitch = 0) noexcept {
    FrameView f;
    f.width = width;
    f.height = height;
    f.format = format;
    const std::size_t pitch = rowPitch != 0 ? rowPitch : std::size_t(width) * bytesPerPixel(format);
    f.color = Plane{
        data, height == 0 ? 0 : pitch * (height - 1) + std::size_t(width) * bytesPerPixel(format),
        pitch};
    return f;
  }
};

/// Session settings. A default-constructed Config holds the runtime's defaults.
struct Config {
  std::string modelDir;          // model package folder; empty = pass-through
  std::string ortLibrary;        // libonnxruntime path; empty = search
  std::string executionProvider; // auto, tensorrt, cuda, directml, coreml, cpu
  bool allowEpFallback = false;  // fall back to CPU if the EP fails (reported)
  std::string tensorrtCacheDir;
  Mode mode = Mode::Realtime;
  float strength = 1.0f;
  std::string prompt; // preset name or free text; empty = model default
  std::uint32_t promptBlendFrames = 0;
  float temporalAlpha = 0.0f;
  float upsampleEps = 0.0f; // 1e-6..1: smaller follows the model's look into finer detail
  float cutThreshold = 0.0f;
  std::uint32_t modelWidth = 0; // 0 x 0 = the manifest's default
  std::uint32_t modelHeight = 0;
  std::string backend; // full-resolution passes: auto, gpu, cpu (auto: CPU on a software adapter)
  bool exposureLock = false; // teacher's exposure rule on the output (manifest `exposure`)

  Config() { *this = fromFfi(ffi::default_settings()); }

  static Config fromFfi(const ffi::Settings &s) {
    Config c(Uninitialised{});
    c.modelDir = std::string(s.model_dir);
    c.ortLibrary = std::string(s.ort_library);
    c.executionProvider = std::string(s.execution_provider);
    c.allowEpFallback = s.allow_ep_fallback;
    c.tensorrtCacheDir = std::string(s.tensorrt_cache_dir);
    c.mode = s.mode;
    c.strength = s.strength;
    c.prompt = std::string(s.prompt);
    c.promptBlendFrames = s.prompt_blend_frames;
    c.temporalAlpha = s.temporal_alpha;
    c.upsampleEps = s.upsample_eps;
    c.cutThreshold = s.cut_threshold;
    c.modelWidth = s.model_width;
    c.modelHeight = s.model_height;
    c.backend = std::string(s.backend);
    c.exposureLock = s.exposure_lock;
    return c;
  }

  /// Strings cross lossily: invalid UTF-8 becomes U+FFFD (rust::String would otherwise abort).
  ffi::Settings toFfi() const {
    return ffi::Settings{rust::String::lossy(modelDir),
                         rust::String::lossy(ortLibrary),
                         rust::String::lossy(executionProvider),
                         allowEpFallback,
                         rust::String::lossy(tensorrtCacheDir),
                         mode,
                         strength,
                         rust::String::lossy(prompt),
                         promptBlendFrames,
                         temporalAlpha,
                         upsampleEps,
                         cutThreshold,
                         modelWidth,
                         modelHeight,
                         rust::String::lossy(backend),
                         exposureLock};
  }

private:
  struct Uninitialised {};
  explicit Config(Uninitialised) {}
};

/// Live counters (cheap to read from any thread).
struct Stats {
  std::uint64_t framesSubmitted = 0;
  std::uint64_t framesOutput = 0;
  std::uint64_t framesDropped = 0; // replaced by a newer frame before processing
  std::uint64_t inferences = 0;
  double lastInferenceMs = 0.0;
  double lastPreprocessMs = 0.0;
  double lastCompositeMs = 0.0;
  std::uint64_t outputLatencyFrames = 0;
  std::string executionProvider; // "cpu", "cuda", ... or "none"
  std::uint64_t windowResets = 0;
  std::uint64_t framesEnhanced = 0;    // shown with the model's look (fresh or reprojected)
  std::uint64_t framesReprojected = 0; // of those, an earlier output reprojected (realtime)
  std::uint64_t framesFailed = 0;      // shown untouched because of an error
  std::uint64_t modelFaults = 0;       // absurd model outputs refused (shown untouched)
  std::uint64_t framesSanitized = 0;   // depth/normals/motion values replaced (NaN, inf, range)
  std::string backend;                 // where the full-resolution passes run: "gpu", "cpu", "none"
  std::uint64_t lastTransferBytes = 0; // CPU<->GPU bytes of the last frame (0 on CPU backend)
  std::uint64_t submitAllocations = 0; // submits that copied into a new buffer (1-2 when healthy)
  bool modelReadsLight = false;        // the model reads each frame's light (SceneLight)
  std::uint64_t framesWithoutLight = 0; // frames such a model got without one (fallback sun used)
  float lastUpsampleEps = 0.0f;         // last composite's ridge: upsampleEps x its prompt's
  float lastUpsampleEdgeRidge = 0.0f;   // its factor on the model input's edges (1: plain fit)
  float lastUpsampleEdgePull = 0.0f;    // its pull toward the look's gain off them (0: plain fit)

  static Stats fromFfi(const ffi::Stats &s) {
    Stats r;
    r.framesSubmitted = s.frames_submitted;
    r.framesOutput = s.frames_output;
    r.framesDropped = s.frames_dropped;
    r.inferences = s.inferences;
    r.lastInferenceMs = s.last_inference_ms;
    r.lastPreprocessMs = s.last_preprocess_ms;
    r.lastCompositeMs = s.last_composite_ms;
    r.outputLatencyFrames = s.output_latency_frames;
    r.executionProvider = std::string(s.execution_provider);
    r.windowResets = s.window_resets;
    r.framesEnhanced = s.frames_enhanced;
    r.framesReprojected = s.frames_reprojected;
    r.framesFailed = s.frames_failed;
    r.modelFaults = s.model_faults;
    r.framesSanitized = s.frames_sanitized;
    r.backend = std::string(s.backend);
    r.lastTransferBytes = s.last_frame_transfer_bytes;
    r.submitAllocations = s.submit_allocations;
    r.modelReadsLight = s.model_reads_light;
    r.framesWithoutLight = s.frames_without_light;
    r.lastUpsampleEps = s.last_upsample_eps;
    r.lastUpsampleEdgeRidge = s.last_upsample_edge_ridge;
    r.lastUpsampleEdgePull = s.last_upsample_edge_pull;
    return r;
  }
};

/// A finished frame, tightly packed. Keep one per consumer and pass it to latestOutput() every
/// frame: the pixel buffer is recycled, not reallocated.
class Output {
public:
  Output() : raw_{0, 0, PixelFormat::Rgba8Srgb, {}, 0, false} {}

  std::uint32_t width() const noexcept { return raw_.width; }
  std::uint32_t height() const noexcept { return raw_.height; }
  PixelFormat format() const noexcept { return raw_.format; }
  const std::uint8_t *data() const noexcept { return raw_.data.data(); }
  std::size_t sizeBytes() const noexcept { return raw_.data.size(); }
  std::size_t rowPitch() const noexcept {
    return std::size_t(raw_.width) * bytesPerPixel(raw_.format);
  }
  /// 0-based submit counter of the frame this output was made from.
  std::uint64_t frameIndex() const noexcept { return raw_.frame_index; }
  /// False when this is the untouched input (no model, or an error: see Session::health()).
  bool enhanced() const noexcept { return raw_.enhanced; }

  ffi::OutputFrame &raw() noexcept { return raw_; }
  const ffi::OutputFrame &raw() const noexcept { return raw_; }

private:
  ffi::OutputFrame raw_;
};

/// A frame whose planes the session takes instead of copying (Session::submitOwned): the
/// buffers are rust::Vec so they can move between C++ and the runtime. Fill the planes (tightly
/// packed; leave a plane empty when absent), submit, refill: after submitOwned the vectors hold
/// recycled buffers of the same capacity with unspecified contents. A readback ring of these
/// costs no copy per frame (a copy moves 56 MB at 1080p with all G-buffers).
class OwnedFrame {
public:
  OwnedFrame(std::uint32_t width, std::uint32_t height, PixelFormat format)
      : raw_{width, height, format, {}, {}, {}, {}, false, ffi::Light{}} {}

  rust::Vec<std::uint8_t> &color() noexcept { return raw_.color; }
  rust::Vec<std::uint8_t> &depth() noexcept { return raw_.depth; }
  rust::Vec<std::uint8_t> &normals() noexcept { return raw_.normals; }
  rust::Vec<std::uint8_t> &motion() noexcept { return raw_.motion; }
  void setCameraCut(bool cut) noexcept { raw_.camera_cut = cut; }
  /// The scene's light (see SceneLight). Unlike the planes it stays as set after submitOwned: set
  /// it every frame (the camera turns), or clear it.
  void setLight(std::optional<SceneLight> light) noexcept { raw_.light = lightToFfi(light); }
  void setLight(const std::array<float, 3> &sun, const std::array<float, 3> &up) noexcept {
    setLight(SceneLight{sun, up});
  }
  void clearLight() noexcept { raw_.light = ffi::Light{}; }
  std::optional<SceneLight> light() const noexcept { return lightFromFfi(raw_.light); }
  ffi::OwnedFrame &raw() noexcept { return raw_; }

private:
  ffi::OwnedFrame raw_;
};

/// A running session. Create with Session::create; all methods are thread-safe.
class Session {
public:
  /// Loads and checks the model, opens the GPU, starts the worker threads. Returns nullptr and
  /// a non-ok status on failure (bad settings, model package, ONNX Runtime library, GPU).
  static std::unique_ptr<Session> create(const Config &config, Status &status) {
    ffi::Status s{0, {}};
    rust::Box<ffi::Session> inner = ffi::create_session(config.toFfi(), s);
    status = Status::fromFfi(s);
    if (!status.ok()) {
      return nullptr;
    }
    return std::unique_ptr<Session>(new Session(std::move(inner)));
  }

  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;
  ~Session() = default; // rust::Box drops the session: joins its threads

  /// Hand over a frame (see the header comment for realtime vs cinematic).
  Status submit(const FrameView &frame) const {
    const ffi::FrameDesc desc{frame.width,           frame.height,         frame.format,
                              frame.color.rowPitch,  frame.depth.rowPitch, frame.normals.rowPitch,
                              frame.motion.rowPitch, frame.cameraCut,      lightToFfi(frame.light)};
    return Status::fromFfi(inner_->submit(desc, bytes(frame.color), bytes(frame.depth),
                                          bytes(frame.normals), bytes(frame.motion)));
  }

  /// Like submit, without the copy: the session takes `frame`'s planes and leaves recycled
  /// buffers in their place (see OwnedFrame).
  Status submitOwned(OwnedFrame &frame) const {
    return Status::fromFfi(inner_->submit_owned(frame.raw()));
  }

  /// Copy the newest finished frame into `out`; false until the first frame is done.
  bool latestOutput(Output &out) const { return inner_->latest_output(out.raw()); }

  /// A preset name (clear, rain, fog, snow, night, golden_hour, ...) or free text (needs a model
  /// with a text encoder). Blended in over the configured number of frames.
  Status setPrompt(std::string_view text) const {
    return Status::fromFfi(inner_->set_prompt(rust::Slice<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t *>(text.data()), text.size())));
  }
  /// 0 = untouched input, 1 = full effect; anything else (or NaN) is refused.
  Status setStrength(float strength) const {
    return Status::fromFfi(inner_->set_strength(strength));
  }
  /// The guided upsample's ridge (Config::upsampleEps) from the next frame on; outside 1e-6..1
  /// (or NaN) is refused and the current value kept.
  Status setUpsampleEps(float eps) const { return Status::fromFfi(inner_->set_upsample_eps(eps)); }
  Status setMode(Mode mode) const { return Status::fromFfi(inner_->set_mode(mode)); }
  /// The engine signals a camera cut: temporal history restarts with the next frame.
  Status resetHistory() const { return Status::fromFfi(inner_->reset_history()); }
  Stats stats() const { return Stats::fromFfi(inner_->stats()); }
  /// ok(): frames are being enhanced. Otherwise frames pass through and message says why.
  Status health() const { return Status::fromFfi(inner_->health()); }
  std::string executionProvider() const { return std::string(inner_->execution_provider()); }

  /// The cxx object, for callers that want the raw bridge.
  const ffi::Session &raw() const noexcept { return *inner_; }

private:
  explicit Session(rust::Box<ffi::Session> inner) : inner_(std::move(inner)) {}

  static rust::Slice<const std::uint8_t> bytes(const Plane &p) noexcept {
    if (!p.present()) {
      return {};
    }
    return {static_cast<const std::uint8_t *>(p.data), p.sizeBytes};
  }

  rust::Box<ffi::Session> inner_;
};

/// The device path on a native Vulkan host: RealMaster runs on the host's VkDevice and queue and
/// reads and writes the host's VkImages; only the model's tensors cross to the CPU. The contract
/// (extensions, queue, image layouts) is in cpp-bridge/README.md. Not thread-safe: call it from
/// the thread that submits to the queue, between the host's own submissions.
class VulkanSession {
public:
  using Handles = ffi::VulkanHandles;
  using Image = ffi::VulkanImage;
  using Frame = ffi::VulkanFrame;
  using FrameResult = ffi::VulkanFrameResult;

  /// Device extensions RealMaster needs that `handles.device_extensions` lacks (before
  /// vkCreateDevice, `handles.device` may be 0).
  static std::vector<std::string> missingDeviceExtensions(const Handles &handles, Status &status) {
    ffi::Status s{0, {}};
    const rust::Vec<rust::String> names = ffi::vulkan_required_device_extensions(handles, s);
    status = Status::fromFfi(s);
    std::vector<std::string> out;
    for (const auto &n : names) {
      out.emplace_back(std::string(n));
    }
    return out;
  }

  /// Loads the model and wraps the host's device; nullptr and a non-ok status on failure.
  static std::unique_ptr<VulkanSession> create(const Handles &handles, const Config &config,
                                               Status &status) {
    ffi::Status s{0, {}};
    rust::Box<ffi::VulkanSession> inner = ffi::create_vulkan_session(handles, config.toFfi(), s);
    status = Status::fromFfi(s);
    if (!status.ok()) {
      return nullptr;
    }
    return std::unique_ptr<VulkanSession>(new VulkanSession(std::move(inner)));
  }

  VulkanSession(const VulkanSession &) = delete;
  VulkanSession &operator=(const VulkanSession &) = delete;
  ~VulkanSession() = default;

  /// A frame with nothing in it yet: no images (id 0), view-space normals, identity
  /// `world_to_view`, no camera cut, no light. Fill in the ids and conventions, then the light with
  /// realmaster::setLight(frame, ...).
  static Frame emptyFrame() noexcept {
    Frame f{};
    f.world_to_view = {1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f};
    f.light = ffi::Light{};
    return f;
  }

  /// Register one of the host's images once; returns its id (> 0), or 0 with `status` set.
  std::uint32_t registerImage(const Image &image, Status &status) {
    ffi::Status s{0, {}};
    const std::uint32_t id = inner_->register_image(image, s);
    status = Status::fromFfi(s);
    return id;
  }
  Status releaseImage(std::uint32_t id) { return Status::fromFfi(inner_->release_image(id)); }
  /// Enhance one frame into its output image (never throws; see FrameResult::status).
  FrameResult process(const Frame &frame) { return inner_->process(frame); }
  Status setPrompt(std::string_view text) {
    return Status::fromFfi(inner_->set_prompt(rust::Slice<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t *>(text.data()), text.size())));
  }
  /// 0 = untouched input, 1 = full effect; anything else (or NaN) is refused.
  Status setStrength(float strength) { return Status::fromFfi(inner_->set_strength(strength)); }
  /// The guided upsample's ridge from the next frame on; outside 1e-6..1 (or NaN) is refused.
  Status setUpsampleEps(float eps) { return Status::fromFfi(inner_->set_upsample_eps(eps)); }
  Status setMode(Mode mode) { return Status::fromFfi(inner_->set_mode(mode)); }
  Stats stats() const { return Stats::fromFfi(inner_->stats()); }
  Status health() const { return Status::fromFfi(inner_->health()); }

private:
  explicit VulkanSession(rust::Box<ffi::VulkanSession> inner) : inner_(std::move(inner)) {}
  rust::Box<ffi::VulkanSession> inner_;
};

/// The scene's light of a device-path frame (VulkanSession::Frame is the bridge's plain struct; see
/// SceneLight for the space and what happens without one).
inline void setLight(VulkanSession::Frame &frame, std::optional<SceneLight> light) noexcept {
  frame.light = lightToFfi(light);
}
inline void setLight(VulkanSession::Frame &frame, const std::array<float, 3> &sun,
                     const std::array<float, 3> &up) noexcept {
  setLight(frame, SceneLight{sun, up});
}
inline void clearLight(VulkanSession::Frame &frame) noexcept {
  frame.light = ffi::Light{};
}
inline std::optional<SceneLight> lightOf(const VulkanSession::Frame &frame) noexcept {
  return lightFromFfi(frame.light);
}

/// Library version (the Rust package version).
inline std::string version() {
  return std::string(ffi::version());
}

/// Helpers for hosts and tests: sequence folders (docs/formats.md) and PNG output.
namespace io {

inline rust::Slice<const std::uint8_t> utf8(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

using SequenceInfo = ffi::SequenceInfo;

/// A sequence frame, tightly packed; ready to submit with view().
class SequenceFrame {
public:
  SequenceFrame() : raw_{0, 0, PixelFormat::Rgba8Srgb, {}, {}, {}, {}, false, ffi::Light{}} {}

  /// The frame, light included, ready to submit.
  FrameView view() const noexcept {
    FrameView f = FrameView::colorOnly(raw_.color.data(), raw_.width, raw_.height, raw_.format);
    f.color.sizeBytes = raw_.color.size();
    f.depth = plane(raw_.depth, kDepthBytesPerPixel);
    f.normals = plane(raw_.normals, kNormalsBytesPerPixel);
    f.motion = plane(raw_.motion, kMotionBytesPerPixel);
    f.cameraCut = raw_.camera_cut;
    f.light = light();
    return f;
  }
  /// The light sequence.json records for this frame (its "light" lists), or none. loadSequenceFrame
  /// replaces it with each frame's; setLight / clearLight override it until then.
  std::optional<SceneLight> light() const noexcept { return lightFromFfi(raw_.light); }
  void setLight(std::optional<SceneLight> light) noexcept { raw_.light = lightToFfi(light); }
  void setLight(const std::array<float, 3> &sun, const std::array<float, 3> &up) noexcept {
    setLight(SceneLight{sun, up});
  }
  void clearLight() noexcept { raw_.light = ffi::Light{}; }
  ffi::SequenceFrame &raw() noexcept { return raw_; }

private:
  Plane plane(const rust::Vec<std::uint8_t> &v, std::size_t bpp) const noexcept {
    if (v.empty()) {
      return {};
    }
    return Plane{v.data(), v.size(), std::size_t(raw_.width) * bpp};
  }
  ffi::SequenceFrame raw_;
};

inline Status sequenceInfo(std::string_view dir, SequenceInfo &info) {
  return Status::fromFfi(ffi::sequence_info(utf8(dir), info));
}

inline Status loadSequenceFrame(std::string_view dir, std::uint32_t index, SequenceFrame &out) {
  return Status::fromFfi(ffi::load_sequence_frame(utf8(dir), index, out.raw()));
}

inline Status writePng(std::string_view path, const Output &frame) {
  return Status::fromFfi(ffi::write_output_png(utf8(path), frame.raw()));
}

} // namespace io
} // namespace realmaster
