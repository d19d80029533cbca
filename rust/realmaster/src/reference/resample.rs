//! CPU reference of shaders/resample.wgsl: exact area resampling to model resolution and each
//! plane's model encoding. Same loop order and f32 arithmetic as the shader.

use super::decode::DecodedFrame;
use crate::frame::{linear_to_srgb, ImageF32};
use crate::gpu::preprocess::{ModelColorSpace, PreprocessConfig};

/// The CPU twin of `gpu::preprocess::ModelResImages`, plus the raw depth the edge pass uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResRef {
    /// RGBA in the model's colour space.
    pub color: ImageF32,
    /// Linear RGBA.
    pub color_linear: ImageF32,
    /// 0/1 edges, 1 channel.
    pub edges: ImageF32,
    /// `1 / (1 + z / depth_scale)`, 0 when absent; 1 channel.
    pub depth: ImageF32,
    /// Resampled view depth z (0 when absent); 1 channel.
    pub depth_z: ImageF32,
    /// Unit normals (0 when absent), 4 channels.
    pub normals: ImageF32,
    /// Motion in model pixels (0 when absent), 4 channels.
    pub motion: ImageF32,
    pub has_depth: bool,
    pub has_normals: bool,
}

/// Footprint of output index `o` on an axis of `n` source pixels: ([first, end), lo, hi).
fn span(o: u32, scale: f32, n: u32) -> (u32, u32, f32, f32) {
    let lo = o as f32 * scale;
    let hi = (o + 1) as f32 * scale;
    let first = (lo.floor() as u32).min(n - 1);
    let end = (hi.ceil() as u32).min(n).max(first + 1);
    (first, end, lo, hi)
}

fn overlap(lo: f32, hi: f32, i: u32) -> f32 {
    (hi.min((i + 1) as f32) - lo.max(i as f32)).max(0.0)
}

/// Area-resample any-channel `src` to `dw` x `dh`: each output pixel is the overlap-weighted mean
/// of the source pixels its footprint covers (exact for non-integer ratios and for upsampling).
pub fn area_resample(src: &ImageF32, dw: u32, dh: u32) -> ImageF32 {
    let (sw, sh, ch) = (src.width, src.height, src.channels as usize);
    let scale_x = sw as f32 / dw as f32;
    let scale_y = sh as f32 / dh as f32;
    let mut out = ImageF32::new(dw, dh, src.channels);
    let mut acc = vec![0f32; ch];
    for oy in 0..dh {
        let (y0, y1, ylo, yhi) = span(oy, scale_y, sh);
        for ox in 0..dw {
            let (x0, x1, xlo, xhi) = span(ox, scale_x, sw);
            acc.iter_mut().for_each(|a| *a = 0.0);
            let mut wsum = 0f32;
            for y in y0..y1 {
                let wy = overlap(ylo, yhi, y);
                for x in x0..x1 {
                    let w = overlap(xlo, xhi, x) * wy;
                    let i = (y * sw + x) as usize * ch;
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a += src.data[i + c] * w;
                    }
                    wsum += w;
                }
            }
            let o = (oy * dw + ox) as usize * ch;
            for (c, a) in acc.iter().enumerate() {
                out.data[o + c] = a / wsum;
            }
        }
    }
    out
}

/// Resample and encode every plane of `frame` for the model (edges left at 0; see
/// `reference::edges::model_inputs` for the whole preprocessing chain).
pub fn resample_frame(frame: &DecodedFrame, cfg: &PreprocessConfig) -> ModelResRef {
    let (mw, mh) = (cfg.model_width, cfg.model_height);
    let (sw, sh) = (frame.color.width, frame.color.height);
    let color_linear = area_resample(&frame.color, mw, mh);
    let mut color = color_linear.clone();
    if cfg.color_space == ModelColorSpace::Srgb {
        for p in color.data.chunks_exact_mut(4) {
            for v in &mut p[..3] {
                *v = linear_to_srgb(v.clamp(0.0, 1.0));
            }
        }
    }
    let (depth, depth_z) = match &frame.depth {
        Some(d) => {
            let z = area_resample(d, mw, mh);
            let mut enc = z.clone();
            enc.data
                .iter_mut()
                .for_each(|v| *v = 1.0 / (1.0 + v.max(0.0) / cfg.depth_scale));
            (enc, z)
        }
        None => (ImageF32::new(mw, mh, 1), ImageF32::new(mw, mh, 1)),
    };
    let normals = match &frame.normals {
        Some(n) => {
            let mut r = area_resample(n, mw, mh);
            for p in r.data.chunks_exact_mut(4) {
                let len = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
                // A (near) zero average has no direction: report "no normal".
                if len > 1e-6 {
                    p[..3].iter_mut().for_each(|v| *v /= len);
                } else {
                    p[..3].iter_mut().for_each(|v| *v = 0.0);
                }
                p[3] = 0.0;
            }
            r
        }
        None => ImageF32::new(mw, mh, 4),
    };
    let motion = match &frame.motion {
        Some(m) => {
            let mut r = area_resample(m, mw, mh);
            let (kx, ky) = (mw as f32 / sw as f32, mh as f32 / sh as f32);
            for p in r.data.chunks_exact_mut(4) {
                p[0] *= kx;
                p[1] *= ky;
                p[2] = 0.0;
                p[3] = 0.0;
            }
            r
        }
        None => ImageF32::new(mw, mh, 4),
    };
    ModelResRef {
        color,
        color_linear,
        edges: ImageF32::new(mw, mh, 1),
        depth,
        depth_z,
        normals,
        motion,
        has_depth: frame.depth.is_some(),
        has_normals: frame.normals.is_some(),
    }
}
