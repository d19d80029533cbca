//! [`FramePasses`] on the CPU: every image in host memory, the passes of `crate::reference`
//! through the stages of `crate::cpu`.

use crate::cpu::{CpuCompositor, CpuPreprocessor, ModelLook};
use crate::error::{Error, Result};
use crate::frame::{FrameRef, ImageF32};
use crate::gpu::composite::CompositeParams;
use crate::gpu::model_io::reference::{to_linear_into, unpack_into};
use crate::gpu::preprocess::{ModelColorSpace, PreprocessConfig, TensorLayout};
use crate::reference::pack::pack_into;
use crate::reference::reproject::reproject_into;
use crate::reference::resample::ModelResRef;

use super::backend::Backend;
use super::engine::ModelSpec;
use super::frame_passes::FramePasses;

pub struct CpuPasses {
    spec: ModelSpec,
    layout: TensorLayout,
    pre: CpuPreprocessor,
    comp: CpuCompositor,
    slots: Vec<ModelResRef>,
    motion_ring: Vec<ImageF32>,
    look_out: ImageF32,
    look_in: ImageF32,
    scratch: ImageF32,
    inflight_in: ImageF32,
    out_lin: ImageF32,
    in_lin: ImageF32,
    /// The window slot of the last preprocessed frame: its model-size motion and depth drive the
    /// compositor's temporal pass.
    current_slot: Option<usize>,
}

impl CpuPasses {
    pub fn new(spec: &ModelSpec, cfg: PreprocessConfig, history: usize) -> Result<Self> {
        let (w, h) = (spec.width, spec.height);
        let img4 = || ImageF32::new(w, h, 4);
        Ok(CpuPasses {
            layout: TensorLayout::new(w, h, spec.window, &spec.roles)?,
            pre: CpuPreprocessor::new(cfg)?,
            comp: CpuCompositor::new(),
            slots: (0..spec.window).map(|_| ModelResRef::new(w, h)).collect(),
            motion_ring: (0..history).map(|_| img4()).collect(),
            look_out: img4(),
            look_in: img4(),
            scratch: img4(),
            inflight_in: img4(),
            out_lin: img4(),
            in_lin: img4(),
            current_slot: None,
            spec: spec.clone(),
        })
    }
}

fn slot_of(slots: &[ModelResRef], i: usize) -> Result<&ModelResRef> {
    slots
        .get(i)
        .ok_or_else(|| Error::Internal(format!("window slot {i} out of range")))
}

impl FramePasses for CpuPasses {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn layout(&self) -> &TensorLayout {
        &self.layout
    }

    fn upload(&mut self, frame: &FrameRef<'_>) -> Result<()> {
        self.pre.upload(frame)
    }

    fn sanitizes_gbuffers(&self) -> bool {
        true
    }

    fn take_sanitized(&mut self) -> crate::frame::Sanitized {
        self.pre.take_sanitized()
    }

    fn preprocess(&mut self, slot: usize, ring: usize) -> Result<()> {
        let dst = self
            .slots
            .get_mut(slot)
            .ok_or_else(|| Error::Internal(format!("window slot {slot} out of range")))?;
        self.pre.process(dst)?;
        self.current_slot = Some(slot);
        let motion = self
            .motion_ring
            .get_mut(ring)
            .ok_or_else(|| Error::Internal(format!("motion history slot {ring} out of range")))?;
        motion.data.copy_from_slice(&dst.motion.data);
        Ok(())
    }

    fn warp_look(&mut self, ring: usize) -> Result<()> {
        let motion = self
            .motion_ring
            .get(ring)
            .ok_or_else(|| Error::Internal(format!("motion history slot {ring} out of range")))?;
        for look in [&mut self.look_out, &mut self.look_in] {
            reproject_into(look, motion, &mut self.scratch);
            std::mem::swap(look, &mut self.scratch);
        }
        Ok(())
    }

    fn pack(
        &mut self,
        order: &[usize],
        slot: usize,
        use_look: bool,
        arena: &mut Vec<f32>,
    ) -> Result<()> {
        // Every index checked first, so the packing can take the slots as an iterator (no list
        // collected per frame).
        for &i in order {
            slot_of(&self.slots, i)?;
        }
        let window = order.iter().map(|&i| &self.slots[i]);
        let current = slot_of(&self.slots, slot)?;
        let prev = if use_look {
            &self.look_out
        } else {
            &current.color
        };
        pack_into(&self.layout, window, current, prev, arena);
        self.inflight_in.data.copy_from_slice(&current.color.data);
        Ok(())
    }

    fn set_look(&mut self, rgb: &[f32]) -> Result<()> {
        let (w, h) = (self.spec.width, self.spec.height);
        if rgb.len() < (w * h * 3) as usize {
            return Err(Error::Inference(format!(
                "the model returned {} values for a {w}x{h}x3 output",
                rgb.len()
            )));
        }
        unpack_into(rgb, w, h, &mut self.look_out.data);
        self.look_in.data.copy_from_slice(&self.inflight_in.data);
        Ok(())
    }

    fn composite(
        &mut self,
        frame: &FrameRef<'_>,
        params: &CompositeParams,
        reset_history: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let srgb = matches!(self.spec.color_space, ModelColorSpace::Srgb);
        to_linear_into(&self.look_out.data, srgb, &mut self.out_lin.data);
        to_linear_into(&self.look_in.data, srgb, &mut self.in_lin.data);
        let color = self.pre.color(frame)?;
        let cur = self.current_slot.and_then(|s| self.slots.get(s));
        let look = ModelLook {
            out: &self.out_lin,
            input: &self.in_lin,
            motion: cur.map(|c| &c.motion),
            depth: cur.filter(|c| c.has_depth).map(|c| &c.depth_z),
            edges: cur.map(|c| &c.edges),
        };
        self.comp
            .composite_encode(color, &look, params, reset_history, frame.format, out)
    }

    fn read_output(&mut self, _out: &mut Vec<u8>) -> Result<()> {
        Ok(()) // `composite` encoded straight into the caller's buffer
    }

    fn flush(&mut self, _wait: bool) -> Result<()> {
        Ok(())
    }
}
