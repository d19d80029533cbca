//! The C++ interface (cxx). Everything here is generated into `realmaster-ffi/src/bridge.rs.h`
//! (namespace `realmaster::ffi`); the C++ RAII wrapper is cpp-bridge/include/realmaster/realmaster.hpp.
//!
//! Rules kept by every function below:
//! - no C++ exceptions: nothing returns `Result`; fallible calls return a `Status` (code 0 = ok);
//! - no Rust panic crosses the boundary: each entry point runs under `catch_unwind` and reports a
//!   panic as `StatusCode::Internal`;
//! - frame memory crosses as `&[u8]` slices plus width/height/format/row pitch; an empty slice means
//!   "this plane is absent".

// The bridge resolves every extern "Rust" item through `super::`, i.e. this module.
use crate::vulkan::{create_vulkan_session, vulkan_required_device_extensions, VulkanSession};
use crate::{
    create_session, default_settings, load_sequence_frame, sequence_info, version,
    write_output_png, Session,
};

#[cxx::bridge(namespace = "realmaster::ffi")]
pub mod ffi {
    /// `Status::code` values: 0 = ok, the rest mirror `realmaster::ErrorCode`.
    #[repr(u32)]
    #[derive(Debug)]
    enum StatusCode {
        Ok = 0,
        InvalidFrame = 1,
        Io = 2,
        Sequence = 3,
        Manifest = 4,
        Integrity = 5,
        ModelMismatch = 6,
        OrtLibrary = 7,
        ExecutionProvider = 8,
        Inference = 9,
        Gpu = 10,
        Prompt = 11,
        Config = 12,
        Shutdown = 13,
        Internal = 14,
    }

    /// Outcome of a call. `message` names the problem and the fix; empty when `code` is 0.
    #[derive(Debug, Clone)]
    struct Status {
        code: u32,
        message: String,
    }

    /// Pixel format of a color buffer (8-bit formats are sRGB-encoded, float formats linear).
    #[repr(u32)]
    #[derive(Debug)]
    enum PixelFormat {
        Rgba8Srgb = 0,
        Bgra8Srgb = 1,
        Rgba16Float = 2,
        Rgba32Float = 3,
    }

    #[repr(u32)]
    #[derive(Debug)]
    enum Mode {
        /// `submit` copies the frame and returns; the newest frame wins.
        Realtime = 0,
        /// `submit` returns once the frame's output is ready; every frame is processed.
        Cinematic = 1,
    }

    /// The scene's light for models that read it (`realmaster::SceneLight`): the direction towards
    /// the sun and the world's up, both in the view space of the normals (x right, y up, z towards
    /// the camera); any non-zero length. `present` false: the frame gives none (a model that reads
    /// the light then assumes a sun 45 degrees up behind the camera, and warns once).
    #[derive(Debug, Clone, Copy, Default)]
    struct Light {
        present: bool,
        sun: [f32; 3],
        up: [f32; 3],
    }

    /// Describes the slices passed to `Session::submit`. Row pitches are in bytes and may exceed
    /// width x bytes per pixel (padded rows); 0 means tightly packed. Planes: depth f32 x1 (view-space z, metres),
    /// normals f32 x3 (view space, z towards the camera), motion f32 x2 (pixels, current -> previous).
    #[derive(Debug, Clone)]
    struct FrameDesc {
        width: u32,
        height: u32,
        format: PixelFormat,
        color_row_pitch: usize,
        depth_row_pitch: usize,
        normals_row_pitch: usize,
        motion_row_pitch: usize,
        /// This frame starts a new shot: history and window reset.
        camera_cut: bool,
        /// See `Light`.
        light: Light,
    }

    /// Session settings; start from `default_settings()`. Empty strings mean "not set".
    #[derive(Debug, Clone)]
    struct Settings {
        /// Model package folder; empty = no model (frames pass through, `health` says why).
        model_dir: String,
        /// Path to libonnxruntime / onnxruntime.dll; empty = search (REALMASTER_ORT_LIB, ORT_DYLIB_PATH, ...).
        ort_library: String,
        /// auto, tensorrt, cuda, directml, coreml, cpu.
        execution_provider: String,
        allow_ep_fallback: bool,
        tensorrt_cache_dir: String,
        mode: Mode,
        strength: f32,
        prompt: String,
        prompt_blend_frames: u32,
        temporal_alpha: f32,
        /// The guided upsample's ridge, 1e-6..=1 (see `realmaster::SessionConfig::upsample_eps`).
        upsample_eps: f32,
        cut_threshold: f32,
        /// Model input size for dynamic-resolution models; 0 x 0 = the manifest's default.
        model_width: u32,
        model_height: u32,
        /// Where the full-resolution passes run: auto (GPU on a hardware adapter, CPU when the
        /// only adapter is a software rasteriser or none), gpu, cpu; empty = auto.
        backend: String,
        /// Hold the output to the model's teacher's exposure rule where its package states one
        /// (see `realmaster::SessionConfig::exposure_lock`); on by default.
        exposure_lock: bool,
    }

    /// Live counters (see `realmaster::Stats`).
    #[derive(Debug, Clone, Default)]
    struct Stats {
        frames_submitted: u64,
        frames_output: u64,
        frames_dropped: u64,
        inferences: u64,
        last_inference_ms: f64,
        last_preprocess_ms: f64,
        last_composite_ms: f64,
        output_latency_frames: u64,
        execution_provider: String,
        window_resets: u64,
        /// Frames shown with the model's look (fresh or reprojected model output).
        frames_enhanced: u64,
        /// Of those, frames showing an earlier frame's output reprojected (realtime catch-up).
        frames_reprojected: u64,
        /// Frames shown untouched because of an error (refused frame, model fault, GPU error).
        frames_failed: u64,
        /// Model outputs refused as absurd (NaN/inf or far out of range): shown untouched.
        model_faults: u64,
        /// Frames whose depth, normals or motion had values replaced (NaN, inf, out of range).
        frames_sanitized: u64,
        /// Where the full-resolution passes run: "gpu", "cpu", or "none" without a model.
        backend: String,
        /// Bytes the last frame moved between CPU memory and the GPU (0 on the CPU backend).
        last_frame_transfer_bytes: u64,
        /// Submits that had to copy into a new frame buffer (stays at 1-2 in a healthy session).
        submit_allocations: u64,
        /// The model reads each frame's light (`Light`).
        model_reads_light: bool,
        /// Frames such a model got without a light (it assumed the fallback sun for them).
        frames_without_light: u64,
        /// The guided upsample's ridge of the last composited frame: `upsample_eps` scaled by the
        /// package's ridge for the look's prompt (manifest `upsample`); 0 before any.
        last_upsample_eps: f32,
        /// The last composited frame's edge-aware fit (the package's `upsample.edge_ridge` and
        /// `edge_aware` for the look's prompt): the ridge's factor on the model input's edges (1:
        /// plain fit) and the pull toward the look's gain off them (0: plain fit); 0 before any.
        last_upsample_edge_ridge: f32,
        last_upsample_edge_pull: f32,
    }

    /// A finished frame, tightly packed, in the format of the submitted frame. Reuse one instance
    /// across calls: `data` keeps its allocation.
    #[derive(Debug, Clone)]
    struct OutputFrame {
        width: u32,
        height: u32,
        format: PixelFormat,
        data: Vec<u8>,
        /// 0-based submit counter of the frame this output belongs to.
        frame_index: u64,
        /// False when the frame is the untouched input (no model, an error).
        enhanced: bool,
    }

    /// What `sequence_info` reports about a sequence folder (docs/formats.md).
    #[derive(Debug, Clone, Default)]
    struct SequenceInfo {
        width: u32,
        height: u32,
        frame_count: u32,
        fps: f64,
        has_depth: bool,
        has_normals: bool,
        has_motion: bool,
    }

    /// One frame of a sequence folder, tightly packed (pitch = width x bytes per pixel); an absent
    /// plane is an empty vector.
    #[derive(Debug, Clone)]
    struct SequenceFrame {
        width: u32,
        height: u32,
        format: PixelFormat,
        color: Vec<u8>,
        depth: Vec<u8>,
        normals: Vec<u8>,
        motion: Vec<u8>,
        camera_cut: bool,
        /// See `Light`.
        light: Light,
    }

    /// A frame the session takes without copying (`Session::submit_owned`): tightly packed planes
    /// as in `FrameDesc`; an absent plane is an empty vector. After the call the vectors hold
    /// recycled buffers of unspecified contents: refill them (their capacity is kept) for the next
    /// frame. The planes move, nothing is copied (at 1080p with all G-buffers a copy moves 56 MB).
    #[derive(Debug, Clone)]
    struct OwnedFrame {
        width: u32,
        height: u32,
        format: PixelFormat,
        color: Vec<u8>,
        depth: Vec<u8>,
        normals: Vec<u8>,
        motion: Vec<u8>,
        camera_cut: bool,
        /// See `Light`.
        light: Light,
    }

    /// A native Vulkan host's objects, raw handles as integers (VkInstance, VkPhysicalDevice,
    /// VkDevice). The contract (extensions, queue, image layouts) is in
    /// rust/realmaster/src/gpu/vulkan_host/mod.rs and cpp-bridge/README.md.
    #[derive(Debug, Clone)]
    struct VulkanHandles {
        instance: u64,
        /// VK_MAKE_API_VERSION of the instance.
        api_version: u32,
        instance_extensions: Vec<String>,
        physical_device: u64,
        device: u64,
        device_extensions: Vec<String>,
        queue_family: u32,
        queue_index: u32,
    }

    /// Formats of the host's images (VK_FORMAT_ names: R8G8B8A8_UNORM, ...).
    #[repr(u32)]
    #[derive(Debug)]
    enum ImageFormat {
        Rgba8Unorm = 0,
        Rgba8UnormSrgb = 1,
        Bgra8Unorm = 2,
        Bgra8UnormSrgb = 3,
        Rgba16Float = 4,
        Rgba32Float = 5,
        R32Float = 6,
        Depth32Float = 7,
        Rgb10a2Unorm = 8,
        Rg16Float = 9,
        Rg32Float = 10,
    }

    /// One of the host's images, registered once (`VulkanSession::register_image`).
    #[derive(Debug, Clone)]
    struct VulkanImage {
        /// VkImage.
        image: u64,
        width: u32,
        height: u32,
        format: ImageFormat,
        /// true: the output (created with STORAGE; kept in GENERAL); false: an input (SAMPLED;
        /// kept in SHADER_READ_ONLY_OPTIMAL).
        output: bool,
        /// Whether the image was created with TRANSFER_SRC / TRANSFER_DST.
        transfer_src: bool,
        transfer_dst: bool,
    }

    /// One frame of registered images (ids from `register_image`; 0 = absent plane).
    #[derive(Debug, Clone)]
    struct VulkanFrame {
        color: u32,
        depth: u32,
        /// > 0: the depth image is reverse Z with an infinite far plane at this near plane
        /// (Unreal, Bevy); 0: it holds the view-axis distance.
        depth_reverse_z_near: f32,
        normals: u32,
        /// true: world-space normals stored as n * 0.5 + 0.5, rotated by `world_to_view` (rows);
        /// false: view-space normals in [-1, 1].
        normals_unorm_world: bool,
        world_to_view: [f32; 9],
        motion: u32,
        /// true: motion is current UV minus previous UV (+y down); false: pixels to the previous frame.
        motion_uv: bool,
        output: u32,
        camera_cut: bool,
        /// See `Light`.
        light: Light,
    }

    /// What `VulkanSession::process` did.
    #[derive(Debug, Clone)]
    struct VulkanFrameResult {
        /// 0: processed (see `enhanced`); otherwise why the input was shown.
        status: Status,
        enhanced: bool,
        /// Bytes moved between CPU memory and the GPU for this frame (the model's tensors only).
        transfer_bytes: u64,
    }

    extern "Rust" {
        /// A running session; share one between threads (all methods are thread-safe).
        type Session;

        /// The runtime's defaults (the single source of truth for C++ callers).
        fn default_settings() -> Settings;
        /// Always returns a box; check `status.code` (0 = ok). A failed session refuses every call.
        fn create_session(settings: &Settings, status: &mut Status) -> Box<Session>;

        /// Realtime: validates the layout, copies, returns at once. Cinematic: returns when done.
        fn submit(
            self: &Session,
            desc: &FrameDesc,
            color: &[u8],
            depth: &[u8],
            normals: &[u8],
            motion: &[u8],
        ) -> Status;
        /// Like `submit`, without the copy: the session takes `frame`'s vectors and leaves
        /// recycled ones in their place (see `OwnedFrame`).
        fn submit_owned(self: &Session, frame: &mut OwnedFrame) -> Status;
        /// Copies the newest finished frame into `out`; false until there is one.
        fn latest_output(self: &Session, out: &mut OutputFrame) -> bool;
        /// A preset name or free text, UTF-8 (bytes, so invalid text is a Status, not an abort in cxx).
        fn set_prompt(self: &Session, text: &[u8]) -> Status;
        fn set_strength(self: &Session, strength: f32) -> Status;
        fn set_upsample_eps(self: &Session, eps: f32) -> Status;
        fn set_mode(self: &Session, mode: Mode) -> Status;
        fn reset_history(self: &Session) -> Status;
        fn stats(self: &Session) -> Stats;
        /// code 0: frames are enhanced; otherwise frames pass through and `message` says why.
        fn health(self: &Session) -> Status;
        fn execution_provider(self: &Session) -> String;

        /// Reads `dir/sequence.json` (paths are UTF-8 bytes).
        fn sequence_info(dir: &[u8], info: &mut SequenceInfo) -> Status;
        /// Loads frame `index` of a sequence folder (reusing `out`'s vectors).
        fn load_sequence_frame(dir: &[u8], index: u32, out: &mut SequenceFrame) -> Status;
        /// Writes an output frame as PNG (8-bit formats as is; float formats clamped and sRGB-encoded).
        fn write_output_png(path: &[u8], frame: &OutputFrame) -> Status;

        /// Version of this library (the Cargo package version).
        fn version() -> String;

        /// The device path on a native Vulkan host: the host's device, queue and images, no
        /// full-resolution copy through the CPU. Call from the thread that submits to the queue.
        type VulkanSession;
        /// Device extensions the host's device must enable for RealMaster that `handles` lacks
        /// (empty: none missing); `handles.device` may be 0 here (before vkCreateDevice).
        fn vulkan_required_device_extensions(
            handles: &VulkanHandles,
            status: &mut Status,
        ) -> Vec<String>;
        /// Always returns a box; check `status.code`. Loads the system's Vulkan loader.
        fn create_vulkan_session(
            handles: &VulkanHandles,
            settings: &Settings,
            status: &mut Status,
        ) -> Box<VulkanSession>;
        /// Wrap one of the host's images once; returns its id (> 0), or 0 with `status` set.
        fn register_image(
            self: &mut VulkanSession,
            image: &VulkanImage,
            status: &mut Status,
        ) -> u32;
        /// Forget an image (before the host destroys it).
        fn release_image(self: &mut VulkanSession, id: u32) -> Status;
        /// Enhance one frame into its output image. Never throws; on an error the input is
        /// copied to the output where possible and `status` says why.
        fn process(self: &mut VulkanSession, frame: &VulkanFrame) -> VulkanFrameResult;
        /// A preset name or free text (UTF-8): encode it off the render thread.
        fn set_prompt(self: &mut VulkanSession, text: &[u8]) -> Status;
        /// 0 = untouched input, 1 = full effect; anything else (or NaN) is refused.
        fn set_strength(self: &mut VulkanSession, strength: f32) -> Status;
        fn set_upsample_eps(self: &mut VulkanSession, eps: f32) -> Status;
        fn set_mode(self: &mut VulkanSession, mode: Mode) -> Status;
        fn stats(self: &VulkanSession) -> Stats;
        fn health(self: &VulkanSession) -> Status;
    }
}
