//! Edge stage: gradient → non-maximum suppression → bounded hysteresis → 0/1 map
//! (edges_gradient.wgsl, edges_nms.wgsl, edges_hysteresis.wgsl). All buffers and bind
//! groups are fixed at construction; one frame is one compute pass of `max_iterations + 3` dispatches,
//! where the hysteresis steps after the fixed point is reached dispatch zero workgroups (indirect).

use super::util::{bind_at, storage_buffer, uniform_buffer};
use super::{ModelResImages, PreprocessConfig};
use crate::gpu::context::GpuContext;
use crate::gpu::kernel::{GpuImage, Kernel, WG};

const GRADIENT: &str = include_str!("edges_gradient.wgsl");
const NMS: &str = include_str!("edges_nms.wgsl");
const HYSTERESIS: &str = include_str!("edges_hysteresis.wgsl");

/// Mirrors `Params` in edges_gradient.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GradientParams {
    width: u32,
    height: u32,
    has_depth: u32,
    has_normals: u32,
    depth_relative: f32,
    normal_crease: f32,
    _pad: [u32; 2],
}

/// Mirrors `Params` in edges_nms.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct NmsParams {
    width: u32,
    height: u32,
    low: f32,
    high: f32,
}

/// Mirrors `Params` in edges_hysteresis.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct HysteresisParams {
    width: u32,
    height: u32,
    slot: u32,
    _pad: u32,
}

/// Bytes of one indirect dispatch argument triple.
const ARGS: u64 = 12;

pub(crate) struct EdgeStage {
    gradient: Kernel,
    nms: Kernel,
    grow: Kernel,
    finalize: Kernel,
    gradient_params: wgpu::Buffer,
    /// Indirect dispatch arguments written by even / odd steps for the step after them; zeroed
    /// every frame. Two buffers, because a dispatch may not use one buffer both as its indirect
    /// arguments and as writable storage.
    args: [wgpu::Buffer; 2],
    bind_gradient: wgpu::BindGroup,
    bind_nms: wgpu::BindGroup,
    /// One per hysteresis step (alternating buffer direction and argument slot).
    bind_grow: Vec<wgpu::BindGroup>,
    bind_finalize: wgpu::BindGroup,
    width: u32,
    height: u32,
    // The gradient, state and parameter buffers; the bind groups above reference them.
    _buffers: [wgpu::Buffer; 5],
}

impl EdgeStage {
    /// Build the stage reading `work.color_linear`, `work.normals`, `depth_z`, writing `work.edges`.
    pub(crate) fn new(
        ctx: &GpuContext,
        cfg: &PreprocessConfig,
        work: &ModelResImages,
        depth_z: &GpuImage,
    ) -> Self {
        let device = &ctx.device;
        let (w, h) = (cfg.model_width, cfg.model_height);
        let n = cfg.edges.max_iterations;
        let pixels = w as u64 * h as u64;
        let gradient = Kernel::new(device, "edges_gradient", GRADIENT, "edges_gradient");
        let nms = Kernel::new(device, "edges_nms", NMS, "edges_nms");
        let grow = Kernel::new(device, "edges_grow", HYSTERESIS, "grow");
        let finalize = Kernel::new(device, "edges_finalize", HYSTERESIS, "finalize");

        let grad = storage_buffer(
            device,
            "edge gradient",
            pixels * 8,
            wgpu::BufferUsages::empty(),
        );
        let state = [
            storage_buffer(
                device,
                "edge state a",
                pixels * 4,
                wgpu::BufferUsages::empty(),
            ),
            storage_buffer(
                device,
                "edge state b",
                pixels * 4,
                wgpu::BufferUsages::empty(),
            ),
        ];
        let per_parity = n.div_ceil(2) as u64 * ARGS;
        let args = [
            storage_buffer(
                device,
                "edge dispatch args even",
                per_parity,
                wgpu::BufferUsages::INDIRECT,
            ),
            storage_buffer(
                device,
                "edge dispatch args odd",
                per_parity,
                wgpu::BufferUsages::INDIRECT,
            ),
        ];

        let gradient_params = uniform_buffer(
            device,
            "edge gradient params",
            std::mem::size_of::<GradientParams>() as u64,
        );
        let nms_params = uniform_buffer(
            device,
            "edge nms params",
            std::mem::size_of::<NmsParams>() as u64,
        );
        ctx.queue.write_buffer(
            &nms_params,
            0,
            bytemuck::bytes_of(&NmsParams {
                width: w,
                height: h,
                low: cfg.edges.low,
                high: cfg.edges.high,
            }),
        );
        // Every step's parameters sit in their own aligned slot of one uniform buffer.
        let stride = (ctx.device.limits().min_uniform_buffer_offset_alignment as u64)
            .max(std::mem::size_of::<HysteresisParams>() as u64);
        let hyst_params = uniform_buffer(device, "edge hysteresis params", stride * n as u64);
        let mut bytes = vec![0u8; (stride * n as u64) as usize];
        for i in 0..n {
            let p = HysteresisParams {
                width: w,
                height: h,
                slot: i / 2,
                _pad: 0,
            };
            bytes[(i as u64 * stride) as usize..][..16].copy_from_slice(bytemuck::bytes_of(&p));
        }
        ctx.queue.write_buffer(&hyst_params, 0, &bytes);
        let slot = |i: u32| {
            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &hyst_params,
                offset: i as u64 * stride,
                size: wgpu::BufferSize::new(std::mem::size_of::<HysteresisParams>() as u64),
            })
        };

        let bind_gradient = bind_at(
            device,
            &gradient,
            &[
                (0, gradient_params.as_entire_binding()),
                (1, work.color_linear.buffer.as_entire_binding()),
                (2, depth_z.buffer.as_entire_binding()),
                (3, work.normals.buffer.as_entire_binding()),
                (4, grad.as_entire_binding()),
            ],
        );
        let bind_nms = bind_at(
            device,
            &nms,
            &[
                (0, nms_params.as_entire_binding()),
                (1, grad.as_entire_binding()),
                (2, state[0].as_entire_binding()),
            ],
        );
        // Step i reads state[i % 2], writes state[(i + 1) % 2] and, when it changed something, the
        // arguments of step i + 1 at entry i / 2 of args[i % 2].
        let bind_grow = (0..n)
            .map(|i| {
                let (src, dst) = (&state[(i % 2) as usize], &state[((i + 1) % 2) as usize]);
                bind_at(
                    device,
                    &grow,
                    &[
                        (0, slot(i)),
                        (1, src.as_entire_binding()),
                        (2, dst.as_entire_binding()),
                        (3, args[(i % 2) as usize].as_entire_binding()),
                    ],
                )
            })
            .collect();
        let last = &state[(n % 2) as usize];
        let bind_finalize = bind_at(
            device,
            &finalize,
            &[
                (0, slot(0)),
                (1, last.as_entire_binding()),
                (4, work.edges.buffer.as_entire_binding()),
            ],
        );
        let [state_a, state_b] = state;
        let stage = EdgeStage {
            gradient,
            nms,
            grow,
            finalize,
            gradient_params,
            args,
            bind_gradient,
            bind_nms,
            bind_grow,
            bind_finalize,
            width: w,
            height: h,
            _buffers: [grad, state_a, state_b, nms_params, hyst_params],
        };
        stage.set_frame_cues(ctx, cfg, false, false);
        stage
    }

    /// Tell the gradient pass which cues this frame has.
    pub(crate) fn set_frame_cues(
        &self,
        ctx: &GpuContext,
        cfg: &PreprocessConfig,
        has_depth: bool,
        has_normals: bool,
    ) {
        let p = GradientParams {
            width: self.width,
            height: self.height,
            has_depth: has_depth as u32,
            has_normals: has_normals as u32,
            depth_relative: cfg.edges.depth_relative,
            normal_crease: cfg.edges.normal_crease,
            _pad: [0; 2],
        };
        ctx.queue
            .write_buffer(&self.gradient_params, 0, bytemuck::bytes_of(&p));
    }

    pub(crate) fn record(&self, enc: &mut wgpu::CommandEncoder) {
        for a in &self.args {
            enc.clear_buffer(a, 0, None);
        }
        let (gx, gy) = (self.width.div_ceil(WG), self.height.div_ceil(WG));
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("edges"),
            timestamp_writes: None,
        });
        let direct = |pass: &mut wgpu::ComputePass<'_>, kernel: &Kernel, bg: &wgpu::BindGroup| {
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        };
        direct(&mut pass, &self.gradient, &self.bind_gradient);
        direct(&mut pass, &self.nms, &self.bind_nms);
        for (i, bg) in self.bind_grow.iter().enumerate() {
            if i == 0 {
                direct(&mut pass, &self.grow, bg);
            } else {
                // Written by step i - 1 (zero workgroups unless it changed something).
                let prev = i - 1;
                pass.set_pipeline(&self.grow.pipeline);
                pass.set_bind_group(0, bg, &[]);
                pass.dispatch_workgroups_indirect(&self.args[prev % 2], (prev / 2) as u64 * ARGS);
            }
        }
        direct(&mut pass, &self.finalize, &self.bind_finalize);
    }
}
