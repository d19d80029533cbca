//! realmaster-samples: a headless wgpu raster renderer of procedural scenes that plays the game
//! engine for tests, demos and training. Each frame gives the "sim" color (a plain real-time
//! look), view depth, view-space normals, motion vectors (camera and object motion), and one
//! paired photoreal-looking target per weather prompt, written as sequence folders.

pub mod camera;
pub mod clip;
pub mod export;
pub mod math;
pub mod mesh;
pub mod post;
pub mod render;
pub mod scene;
pub mod weather;

pub use clip::{write_clip, ClipRenderer, ClipSpec};
pub use render::Gpu;
