//! GPU side: the wgpu device and the compute passes (one WGSL file per pass, beside the module that runs it).

pub mod composite;
pub mod context;
pub mod frame_images;
pub mod host;
pub mod kernel;
pub mod model_io;
pub mod preprocess;
pub mod timestamps;
pub mod vulkan_host;

pub use context::{AdapterPreference, AdapterSummary, GpuContext};
pub use frame_images::FrameImages;
pub use kernel::{GpuImage, Kernel};
