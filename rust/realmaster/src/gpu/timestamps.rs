//! GPU time per stage from timestamp queries, where the device has them
//! (`TIMESTAMP_QUERY` + `TIMESTAMP_QUERY_INSIDE_ENCODERS`; lavapipe has both). Only while
//! profiling: each stage's recorded work is bracketed by two timestamps, and the frame's are
//! resolved and read back once at its end.

use crate::error::{Error, Result};

/// The stages timed on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuStage {
    /// Decode/import of the frame (device path) or nothing (CPU-frame path: decoded on upload).
    Import,
    /// Resample to the model size and edges.
    Preprocess,
    /// Carrying the look forward with the motion vectors.
    CarryForward,
    /// Packing the model's tensors.
    Pack,
    /// The model's output into the look.
    Look,
    /// Guided upsample, temporal accumulation, blend and encode.
    Composite,
}

const STAGES: usize = 6;

/// Milliseconds of GPU time per stage on one frame (summed over the stage's passes).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct GpuStageTimes {
    pub import_ms: f64,
    pub preprocess_ms: f64,
    pub carry_forward_ms: f64,
    pub pack_ms: f64,
    pub look_ms: f64,
    pub composite_ms: f64,
}

impl GpuStageTimes {
    fn add(&mut self, stage: GpuStage, ms: f64) {
        let slot = match stage {
            GpuStage::Import => &mut self.import_ms,
            GpuStage::Preprocess => &mut self.preprocess_ms,
            GpuStage::CarryForward => &mut self.carry_forward_ms,
            GpuStage::Pack => &mut self.pack_ms,
            GpuStage::Look => &mut self.look_ms,
            GpuStage::Composite => &mut self.composite_ms,
        };
        *slot += ms;
    }

    /// The stages with their names, in pipeline order.
    pub fn named(&self) -> [(&'static str, f64); STAGES] {
        [
            ("import", self.import_ms),
            ("preprocess", self.preprocess_ms),
            ("carry forward", self.carry_forward_ms),
            ("pack", self.pack_ms),
            ("look", self.look_ms),
            ("composite", self.composite_ms),
        ]
    }
}

/// Timestamp pairs per frame (a stage may run several times, e.g. carrying the look forward).
const CAPACITY: u32 = 64;

pub struct StageTimer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
    /// The stage of each recorded pair, in query order.
    pairs: Vec<GpuStage>,
}

impl StageTimer {
    /// A timer, when the device has the features (None otherwise).
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Option<Self> {
        let need =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        if !device.features().contains(need) {
            return None;
        }
        let bytes = CAPACITY as u64 * 2 * 8;
        Some(StageTimer {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("stage timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: CAPACITY * 2,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("stage timestamps resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            read: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("stage timestamps read"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            period: queue.get_timestamp_period() as f64,
            pairs: Vec::new(),
        })
    }

    /// Open a pair for `stage`: a timestamp now (None once the frame's pairs are used up).
    pub fn begin(&mut self, enc: &mut wgpu::CommandEncoder, stage: GpuStage) -> Option<u32> {
        let i = self.pairs.len() as u32;
        if i >= CAPACITY {
            return None;
        }
        enc.write_timestamp(&self.queries, 2 * i);
        self.pairs.push(stage);
        Some(i)
    }

    /// Close pair `i` (from `begin`): a timestamp now.
    pub fn end(&mut self, enc: &mut wgpu::CommandEncoder, i: Option<u32>) {
        if let Some(i) = i {
            enc.write_timestamp(&self.queries, 2 * i + 1);
        }
    }

    /// Resolve the frame's timestamps (submitted after everything recorded so far) and read them
    /// back: waits for the GPU. Starts the next frame's pairs.
    pub fn read(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) -> Result<GpuStageTimes> {
        let n = self.pairs.len() as u32;
        let mut times = GpuStageTimes::default();
        if n == 0 {
            return Ok(times);
        }
        let bytes = n as u64 * 2 * 8;
        let mut enc = device.create_command_encoder(&Default::default());
        enc.resolve_query_set(&self.queries, 0..2 * n, &self.resolve, 0);
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.read, 0, bytes);
        queue.submit([enc.finish()]);
        let raw = crate::gpu::kernel::map_and_read(device, &self.read, bytes)?;
        let ticks: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        if ticks.len() < 2 * n as usize {
            return Err(Error::Internal("short GPU timestamp readback".into()));
        }
        for (k, stage) in self.pairs.drain(..).enumerate() {
            let dt = ticks[2 * k + 1].saturating_sub(ticks[2 * k]);
            times.add(stage, dt as f64 * self.period / 1e6);
        }
        Ok(times)
    }

    /// Forget pairs recorded but not read (profiling turned off mid-frame).
    pub fn clear(&mut self) {
        self.pairs.clear();
    }
}
