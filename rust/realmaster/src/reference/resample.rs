//! Area resampling (the CPU implementation of gpu/preprocess/resample.wgsl): exact area resampling to
//! model resolution and each plane's model encoding. The same overlap weights as the shader, summed
//! separably (vertically, then horizontally; equal to the shader's 2D sum up to rounding); output
//! rows run in parallel into caller-owned images.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::blend::use_avx2;

use super::decode::{ensure_shape, ColorRows, DecodedFrame};
use crate::frame::{aux_row_clean, AuxKind, ImageF32};
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

impl ModelResRef {
    /// All planes at `w` x `h`, zero.
    pub fn new(w: u32, h: u32) -> Self {
        ModelResRef {
            color: ImageF32::new(w, h, 4),
            color_linear: ImageF32::new(w, h, 4),
            edges: ImageF32::new(w, h, 1),
            depth: ImageF32::new(w, h, 1),
            depth_z: ImageF32::new(w, h, 1),
            normals: ImageF32::new(w, h, 4),
            motion: ImageF32::new(w, h, 4),
            has_depth: false,
            has_normals: false,
        }
    }
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

/// The source pixels and overlap weights of every output index on one axis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AxisPlan {
    src: u32,
    dst: u32,
    /// Per output index: first source index, and the range of its weights in `weights`.
    spans: Vec<(u32, usize, usize)>,
    weights: Vec<f32>,
    /// Per output index, the sum of its weights (summed in tap order).
    sums: Vec<f32>,
}

impl AxisPlan {
    /// The plan for `src` source pixels onto `dst` outputs (both > 0).
    pub fn new(src: u32, dst: u32) -> Self {
        let mut p = AxisPlan::default();
        p.rebuild(src, dst);
        p
    }

    /// Recompute for a new size (a no-op when it is unchanged).
    pub fn rebuild(&mut self, src: u32, dst: u32) {
        if self.src == src && self.dst == dst && !self.spans.is_empty() {
            return;
        }
        self.src = src;
        self.dst = dst;
        self.spans.clear();
        self.weights.clear();
        self.sums.clear();
        let scale = src as f32 / dst as f32;
        for o in 0..dst {
            let (first, end, lo, hi) = span(o, scale, src);
            let start = self.weights.len();
            self.weights
                .extend((first..end).map(|i| overlap(lo, hi, i)));
            self.spans.push((first, start, self.weights.len()));
            self.sums
                .push(self.weights[start..].iter().fold(0.0, |a, &w| a + w));
        }
    }

    fn taps(&self, o: usize) -> (usize, &[f32]) {
        let (first, a, b) = self.spans[o];
        (first as usize, &self.weights[a..b])
    }
}

thread_local! {
    /// One output row's source rows summed with their vertical weights (source width x channels,
    /// then [`LINE_PAD`] floats the horizontal sums may read but never use).
    static LINE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// How far ahead of its loads each source row of a checked vertical sum is prefetched (1080p
/// planes on one thread: 0.4-0.6 ms less than without, 2 KB about as good as 1 and 4 KB).
#[cfg(target_arch = "x86_64")]
pub(super) const PREFETCH_BYTES: usize = 2048;

/// Floats after a vertical-sum line: a 3-channel pixel is read as 4 floats.
const LINE_PAD: usize = 1;

/// One output row from its vertical-sum line `v` (`C` floats per source pixel, then
/// [`LINE_PAD`]): each output pixel's horizontal footprint summed with its weights and divided
/// by the product of the weight sums (`wy`: the vertical one); channels `C..CO` are 0. Per tap
/// the pixel's channels are one group of 4 lanes (3-channel pixels read a 4th float and drop it),
/// each lane summing in tap order: the scalar per-channel sums' bits, in SIMD.
#[inline(always)]
fn horizontal_row<const C: usize, const CO: usize>(
    v: &[f32],
    px: &AxisPlan,
    wy: f32,
    row: &mut [f32],
) {
    for ((o, &(x0, a, b)), &wx) in row.chunks_exact_mut(CO).zip(&px.spans).zip(&px.sums) {
        let wxs = &px.weights[a..b];
        let x0 = x0 as usize;
        let wsum = wx * wy;
        if C >= 3 {
            let seg = &v[x0 * C..(x0 + wxs.len()) * C + (4 - C)];
            let mut acc = [0f32; 4];
            for (dx, &w) in wxs.iter().enumerate() {
                let p: &[f32; 4] = seg[dx * C..][..4].try_into().expect("4 floats");
                for c in 0..4 {
                    acc[c] += p[c] * w;
                }
            }
            for c in 0..C {
                o[c] = acc[c] / wsum;
            }
        } else {
            let seg = &v[x0 * C..(x0 + wxs.len()) * C];
            let mut acc = [0f32; C];
            for (p, &w) in seg.chunks_exact(C).zip(wxs) {
                for c in 0..C {
                    acc[c] += p[c] * w;
                }
            }
            for c in 0..C {
                o[c] = acc[c] / wsum;
            }
        }
        o[C..].fill(0.0);
    }
}

/// [`horizontal_row`] compiled for AVX2 (the same operations).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn horizontal_row_avx2<const C: usize, const CO: usize>(
    v: &[f32],
    px: &AxisPlan,
    wy: f32,
    row: &mut [f32],
) {
    horizontal_row::<C, CO>(v, px, wy, row)
}

/// The source rows `y0..` of `data` (rows of `line_len` floats) weighted by `wys` (at least one)
/// and summed into `v`: contiguous lane-wise loops.
#[inline(always)]
fn vertical_sum(data: &[f32], y0: usize, wys: &[f32], line_len: usize, v: &mut [f32]) {
    let line = |dy: usize| &data[(y0 + dy) * line_len..][..line_len];
    let w0 = wys[0];
    for (a, &p) in v.iter_mut().zip(line(0)) {
        *a = p * w0;
    }
    for (dy, &wy) in wys.iter().enumerate().skip(1) {
        for (a, &p) in v.iter_mut().zip(line(dy)) {
            *a += p * wy;
        }
    }
}

/// [`vertical_sum`] compiled for AVX2 (the same operations, wider lanes; no FMA).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_sum_avx2(data: &[f32], y0: usize, wys: &[f32], line_len: usize, v: &mut [f32]) {
    vertical_sum(data, y0, wys, line_len, v)
}

/// [`vertical_sum`] of 8-bit sRGB rows (`bgr`: blue first; `w` pixels, 4 bytes each), each byte
/// decoded by table as it is read: the decoded values (those of `decode::decode_color_into`)
/// summed in the same order, so the same bits as resampling the decoded image.
#[inline(always)]
fn vertical_sum_srgb8(
    bytes: &[u8],
    pitch: usize,
    bgr: bool,
    y0: usize,
    wys: &[f32],
    w: usize,
    v: &mut [f32],
) {
    vertical_sum_srgb8_from(0, bytes, pitch, bgr, y0, wys, w, v)
}

/// [`vertical_sum_srgb8`] of the pixels from `x0` on.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn vertical_sum_srgb8_from(
    x0: usize,
    bytes: &[u8],
    pitch: usize,
    bgr: bool,
    y0: usize,
    wys: &[f32],
    w: usize,
    v: &mut [f32],
) {
    let t = super::decode::tables();
    let (r, b) = if bgr { (2, 0) } else { (0, 2) };
    let line = |dy: usize| &bytes[(y0 + dy) * pitch..][4 * x0..w * 4];
    let v = &mut v[4 * x0..w * 4];
    let w0 = wys[0];
    for (a, p) in v.chunks_exact_mut(4).zip(line(0).chunks_exact(4)) {
        a[0] = t.srgb[p[r] as usize] * w0;
        a[1] = t.srgb[p[1] as usize] * w0;
        a[2] = t.srgb[p[b] as usize] * w0;
        a[3] = t.unorm[p[3] as usize] * w0;
    }
    for (dy, &wy) in wys.iter().enumerate().skip(1) {
        for (a, p) in v.chunks_exact_mut(4).zip(line(dy).chunks_exact(4)) {
            a[0] += t.srgb[p[r] as usize] * wy;
            a[1] += t.srgb[p[1] as usize] * wy;
            a[2] += t.srgb[p[b] as usize] * wy;
            a[3] += t.unorm[p[3] as usize] * wy;
        }
    }
}

/// [`vertical_sum_srgb8`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_sum_srgb8_avx2(
    bytes: &[u8],
    pitch: usize,
    bgr: bool,
    y0: usize,
    wys: &[f32],
    w: usize,
    v: &mut [f32],
) {
    vertical_sum_srgb8(bytes, pitch, bgr, y0, wys, w, v)
}

/// [`vertical_sum_srgb8`] with AVX-512 VBMI: 16 pixels per step, down all the footprint's rows
/// with the sums in registers (one store per group, no read-modify-write of the line per row),
/// their 64 bytes per row looked up at once in the decode table's byte planes and the 16 alphas
/// (`b / 255` as the unorm table holds it: one division for the group) merged in by one
/// permute; the same multiplies and adds in the same order (the same bits). The row's last
/// `w % 16` pixels by the scalar sums.
///
/// # Safety
/// AVX-512 F, BW and VBMI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn vertical_sum_srgb8_vbmi(
    bytes: &[u8],
    pitch: usize,
    bgr: bool,
    y0: usize,
    wys: &[f32],
    w: usize,
    v: &mut [f32],
) {
    use std::arch::x86_64::*;

    use super::byte_lut::{vbmi, ByteLut};
    static LUT: std::sync::OnceLock<ByteLut> = std::sync::OnceLock::new();
    let lut = vbmi::load(LUT.get_or_init(|| ByteLut::new(&super::decode::tables().srgb)));
    let full = w / 16 * 16;
    let v = &mut v[..w * 4];
    let k255 = _mm512_set1_ps(255.0);
    // The lookups and sums stay in the lookup's lane order (register j holds pixel 4 L + j in
    // its 128-bit lane L), put in pixel order once per group at the store. Register j's alpha
    // lanes 3, 7, 11, 15 take the alphas of its pixels j, 4 + j, 8 + j, 12 + j.
    let alpha_at: [__m512i; 4] = std::array::from_fn(|j| {
        let i = j as i32;
        _mm512_setr_epi32(0, 0, 0, i, 0, 0, 0, i + 4, 0, 0, 0, i + 8, 0, 0, 0, i + 12)
    });
    // Every row the sums read holds the row's pixels (checked once, then read by pointer).
    let rows = &bytes[y0 * pitch..][..(wys.len() - 1) * pitch + w * 4];
    for x in (0..full).step_by(16) {
        let mut acc = [_mm512_setzero_ps(); 4];
        for (dy, &wy) in wys.iter().enumerate() {
            let idx = _mm512_loadu_si512(rows.as_ptr().add(dy * pitch + 4 * x) as *const _);
            let f = vbmi::lookup_lanes(&lut, idx);
            let alpha = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<24>(idx)), k255);
            let wv = _mm512_set1_ps(wy);
            for (m, (a, p)) in acc.iter_mut().zip(f).enumerate() {
                let mut p = _mm512_mask_permutexvar_ps(p, 0x8888, alpha_at[m], alpha);
                if bgr {
                    p = _mm512_permute_ps::<0xC6>(p);
                }
                let s = _mm512_mul_ps(p, wv);
                *a = if dy == 0 { s } else { _mm512_add_ps(*a, s) };
            }
        }
        for (m, a) in vbmi::transpose_lanes(acc).into_iter().enumerate() {
            _mm512_storeu_ps(v.as_mut_ptr().add(4 * x + 16 * m), a);
        }
    }
    vertical_sum_srgb8_from(full, bytes, pitch, bgr, y0, wys, w, v);
}

/// Resample `C`-channel `src` into rows of `CO >= C` channels per pixel (channels past `C` are 0).
/// The weights are separable: per output row, the source rows its footprint covers are summed
/// with their vertical weights into one row (the bulk of the work: every source value once, in
/// contiguous SIMD loops), then each output pixel sums its horizontal footprint of that row and
/// divides by the product of the two weight sums. The shader sums `p wx wy` over the 2D footprint:
/// the same mean up to rounding.
fn resample_rows<const C: usize, const CO: usize>(
    data: &[f32],
    sw: usize,
    px: &AxisPlan,
    py: &AxisPlan,
    out: &mut [f32],
) {
    resample_rows_checked::<C, CO>(data, sw, px, py, out, None);
}

/// The G-buffer plane a checked resample reads: its kind (whose sanitizer rule each source value
/// must keep) and the frame's size (the motion rule's bounds).
type RowRule = (AuxKind, (u32, u32));

/// [`resample_rows`], testing every source row the vertical sums read against `rule`'s sanitizer
/// rule: false when any value breaks it. The AVX2 build tests the values inside the sums as it
/// loads them (`vertical_sum_checked_avx2`: the test runs while the sums wait on memory; as a
/// second pass over each row it cost about as much as the sums, 1.7 ms of a 1080p frame's planes
/// on one thread); the other builds check each row right after summing it (while it is in cache;
/// each row once, in the last output row whose footprint reads it).
fn resample_rows_checked<const C: usize, const CO: usize>(
    data: &[f32],
    sw: usize,
    px: &AxisPlan,
    py: &AxisPlan,
    out: &mut [f32],
    rule: Option<RowRule>,
) -> bool {
    let line_len = sw * C;
    let avx2 = use_avx2();
    let clean = AtomicBool::new(true);
    resample_rows_with::<C, CO>(sw, px, py, out, |oy, y0, wys, v| {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `use_avx2` found AVX2 on this CPU.
            unsafe {
                match rule {
                    Some((kind, size)) => {
                        if !vertical_sum_checked_avx2::<C>(kind, data, y0, wys, size, v) {
                            clean.store(false, Ordering::Relaxed);
                        }
                    }
                    None => vertical_sum_avx2(data, y0, wys, line_len, v),
                }
            }
            return;
        }
        let _ = avx2;
        vertical_sum(data, y0, wys, line_len, v);
        if let Some((kind, size)) = rule {
            // Each source row once: in the last output row whose footprint reads it.
            let end = y0 + wys.len();
            let next = if oy + 1 < py.dst as usize {
                py.taps(oy + 1).0.min(end)
            } else {
                end
            };
            for y in y0.min(next)..next {
                let row = bytemuck::cast_slice(&data[y * line_len..][..line_len]);
                if !aux_row_clean(kind, row, y, size) {
                    clean.store(false, Ordering::Relaxed);
                }
            }
        }
    });
    clean.into_inner()
}

/// [`resample_rows`] with the vertical sum `vsum(output row, first source row, weights, line)`
/// given.
fn resample_rows_with<const C: usize, const CO: usize>(
    sw: usize,
    px: &AxisPlan,
    py: &AxisPlan,
    out: &mut [f32],
    vsum: impl Fn(usize, usize, &[f32], &mut [f32]) + Sync,
) {
    let dw = px.dst as usize;
    let line_len = sw * C;
    let avx2 = use_avx2();
    out.par_chunks_mut(dw * CO)
        .enumerate()
        .for_each(|(oy, row)| {
            let (y0, wys) = py.taps(oy);
            LINE.with(|line| {
                let mut v = line.borrow_mut();
                v.resize(line_len + LINE_PAD, 0.0);
                vsum(oy, y0, wys, &mut v[..line_len]);
                let wy = py.sums[oy];
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: `use_avx2` found AVX2 on this CPU.
                    unsafe { horizontal_row_avx2::<C, CO>(&v, px, wy, row) };
                    return;
                }
                let _ = avx2;
                horizontal_row::<C, CO>(&v, px, wy, row);
            });
        });
}

/// Area-resample `src` (1 or 4 channels) into `out` using the axis plans (made for `src`'s size
/// and the output size): each output pixel is the overlap-weighted mean of the source pixels
/// its footprint covers (exact for non-integer ratios and for upsampling).
pub fn area_resample_planned(src: &ImageF32, px: &AxisPlan, py: &AxisPlan, out: &mut ImageF32) {
    resample_planned(src, px, py, out, false)
}

/// [`area_resample_planned`] of a 1- to 4-channel `src` into a 4-channel `out` (the model-size
/// images keep the GPU textures' 4 channels; the channels `src` lacks are 0).
pub fn area_resample_planned_rgba(
    src: &ImageF32,
    px: &AxisPlan,
    py: &AxisPlan,
    out: &mut ImageF32,
) {
    resample_planned(src, px, py, out, true)
}

/// Both of the above: `out` gets `src`'s channels, or 4 with `rgba`.
fn resample_planned(src: &ImageF32, px: &AxisPlan, py: &AxisPlan, out: &mut ImageF32, rgba: bool) {
    let (dw, dh) = (px.dst, py.dst);
    ensure_shape(out, dw, dh, if rgba { 4 } else { src.channels });
    if dw == 0 || dh == 0 || src.width == 0 || src.height == 0 {
        return;
    }
    let (o, d, sw) = (&mut out.data, &src.data[..], src.width as usize);
    match (src.channels, rgba) {
        (1, false) => resample_rows::<1, 1>(d, sw, px, py, o),
        (2, false) => resample_rows::<2, 2>(d, sw, px, py, o),
        (3, false) => resample_rows::<3, 3>(d, sw, px, py, o),
        (1, true) => resample_rows::<1, 4>(d, sw, px, py, o),
        (2, true) => resample_rows::<2, 4>(d, sw, px, py, o),
        (3, true) => resample_rows::<3, 4>(d, sw, px, py, o),
        _ => resample_rows::<4, 4>(d, sw, px, py, o),
    }
}

/// Area-resample `src` (1 to 4 channels) to `dw` x `dh`: each output pixel is the overlap-weighted
/// mean of the source pixels its footprint covers (exact for non-integer ratios and for upsampling).
pub fn area_resample(src: &ImageF32, dw: u32, dh: u32) -> ImageF32 {
    let px = AxisPlan::new(src.width, dw);
    let py = AxisPlan::new(src.height, dh);
    let mut out = ImageF32::new(dw, dh, src.channels);
    area_resample_planned(src, &px, &py, &mut out);
    out
}

/// Resample plans reused from frame to frame (rebuilt when the engine resolution changes).
#[derive(Debug, Clone, Default)]
pub struct ResamplePlans {
    x: AxisPlan,
    y: AxisPlan,
}

/// Resample and encode every plane of `frame` into `out` (edges left as they are; see
/// `reference::edges::model_inputs_into` for the whole preprocessing chain).
pub fn resample_frame_into(
    frame: &DecodedFrame,
    cfg: &PreprocessConfig,
    plans: &mut ResamplePlans,
    out: &mut ModelResRef,
) {
    let (mw, mh) = (cfg.model_width, cfg.model_height);
    let (sw, sh) = (frame.color.width, frame.color.height);
    plans.x.rebuild(sw, mw);
    plans.y.rebuild(sh, mh);
    area_resample_planned(&frame.color, &plans.x, &plans.y, &mut out.color_linear);
    model_color(out, cfg);
    resample_decoded_aux_into(frame, cfg, plans, out);
}

/// `out.color` (the model's colour space) from `out.color_linear`.
pub fn model_color(out: &mut ModelResRef, cfg: &PreprocessConfig) {
    let (mw, mh) = (out.color_linear.width, out.color_linear.height);
    ensure_shape(&mut out.color, mw, mh, 4);
    if cfg.color_space == ModelColorSpace::Srgb {
        super::srgb::encode_rgba_into(&out.color_linear.data, &mut out.color.data);
    } else {
        out.color.data.copy_from_slice(&out.color_linear.data);
    }
}

/// The colour of [`resample_frame_into`] from a frame's [`ColorRows`]: 8-bit sRGB rows are decoded
/// as the vertical sums read them (the same bits as resampling the decoded image).
pub fn resample_color_into(
    color: ColorRows<'_>,
    cfg: &PreprocessConfig,
    plans: &mut ResamplePlans,
    out: &mut ModelResRef,
) {
    resample_color_linear_into(color, cfg, plans, &mut out.color_linear);
    model_color(out, cfg);
}

/// [`resample_color_into`]'s linear colour alone (`out`: the model's size, 4 channels);
/// [`model_color`] makes the model's colour from it.
pub fn resample_color_linear_into(
    color: ColorRows<'_>,
    cfg: &PreprocessConfig,
    plans: &mut ResamplePlans,
    out: &mut ImageF32,
) {
    let (mw, mh) = (cfg.model_width, cfg.model_height);
    let (sw, sh) = color.size();
    match color {
        ColorRows::Linear(img) => {
            plans.x.rebuild(sw, mw);
            plans.y.rebuild(sh, mh);
            area_resample_planned(img, &plans.x, &plans.y, out);
        }
        ColorRows::Srgb8 {
            bgr, bytes, pitch, ..
        } => {
            ensure_shape(out, mw, mh, 4);
            if sw > 0 && sh > 0 && mw > 0 && mh > 0 && color.is_complete() {
                plans.x.rebuild(sw, mw);
                plans.y.rebuild(sh, mh);
                let (w, avx2) = (sw as usize, use_avx2());
                let vbmi = super::byte_lut::use_vbmi();
                let (px, py) = (&plans.x, &plans.y);
                resample_rows_with::<4, 4>(w, px, py, &mut out.data, |_, y0, wys, v| {
                    #[cfg(target_arch = "x86_64")]
                    if vbmi {
                        // SAFETY: `use_vbmi` found AVX-512 F, BW and VBMI on this CPU.
                        unsafe { vertical_sum_srgb8_vbmi(bytes, pitch, bgr, y0, wys, w, v) };
                        return;
                    }
                    #[cfg(target_arch = "x86_64")]
                    if avx2 {
                        // SAFETY: `use_avx2` found AVX2 on this CPU.
                        unsafe { vertical_sum_srgb8_avx2(bytes, pitch, bgr, y0, wys, w, v) };
                        return;
                    }
                    let _ = (avx2, vbmi);
                    vertical_sum_srgb8(bytes, pitch, bgr, y0, wys, w, v);
                });
            } else {
                out.data.fill(0.0);
            }
        }
    }
}

/// The depth, normals and motion of [`resample_frame_into`] (zero where `frame` lacks a plane),
/// with the edges plane sized.
pub fn resample_decoded_aux_into(
    frame: &DecodedFrame,
    cfg: &PreprocessConfig,
    plans: &mut ResamplePlans,
    out: &mut ModelResRef,
) {
    let (mw, mh) = (cfg.model_width, cfg.model_height);
    let (sw, sh) = (frame.color.width, frame.color.height);
    let sizes = [&frame.depth, &frame.normals, &frame.motion];
    let (sw, sh) = sizes
        .iter()
        .find_map(|p| p.as_ref().map(|i| (i.width, i.height)))
        .unwrap_or((sw, sh));
    if sw > 0 && sh > 0 {
        plans.x.rebuild(sw, mw);
        plans.y.rebuild(sh, mh);
    }
    let (px, py) = (&plans.x, &plans.y);
    ensure_shape(&mut out.depth, mw, mh, 1);
    match &frame.depth {
        Some(d) => {
            area_resample_planned(d, px, py, &mut out.depth_z);
            encode_depth(out, cfg);
        }
        None => {
            zero_plane(&mut out.depth_z, mw, mh, 1);
            out.depth.data.fill(0.0);
        }
    }
    match &frame.normals {
        Some(n) => {
            area_resample_planned_rgba(n, px, py, &mut out.normals);
            unit_normals(&mut out.normals);
        }
        None => zero_plane(&mut out.normals, mw, mh, 4),
    }
    match &frame.motion {
        Some(m) => {
            area_resample_planned_rgba(m, px, py, &mut out.motion);
            to_model_pixels(&mut out.motion, (sw, sh));
        }
        None => zero_plane(&mut out.motion, mw, mh, 4),
    }
    ensure_shape(&mut out.edges, mw, mh, 1);
    out.has_depth = frame.depth.is_some();
    out.has_normals = frame.normals.is_some();
}

/// `img` as a `w` x `h` plane of `c` zeros: a plane the frame lacks.
fn zero_plane(img: &mut ImageF32, w: u32, h: u32, c: u32) {
    ensure_shape(img, w, h, c);
    img.data.fill(0.0);
}

/// The depth, normals and motion of `out` from finished model-size planes (as
/// [`resample_aux_into`] makes them: view z, unit normals, motion in model pixels), zero where a
/// plane is None or not the model's size, with the depth encoded and the edges plane sized: what
/// [`resample_decoded_aux_into`] gives for a frame with those planes. Each plane of the model's
/// shape trades places with `out`'s rather than being copied (the caller's plane then holds
/// `out`'s previous one): the CPU preprocessor hands its upload's planes over this way (2.25 MB a
/// frame at 256x256).
pub fn model_aux_swap(
    [depth_z, normals, motion]: [Option<&mut ImageF32>; 3],
    cfg: &PreprocessConfig,
    out: &mut ModelResRef,
) {
    let (mw, mh) = (cfg.model_width, cfg.model_height);
    let depth_z = depth_z.filter(|i| i.has_shape(mw, mh, 1));
    let normals = normals.filter(|i| i.has_shape(mw, mh, 4));
    let motion = motion.filter(|i| i.has_shape(mw, mh, 4));
    let (has_depth, has_normals) = (depth_z.is_some(), normals.is_some());
    let set = |dst: &mut ImageF32, src: Option<&mut ImageF32>, c: u32| match src {
        Some(src) => std::mem::swap(dst, src),
        None => zero_plane(dst, mw, mh, c),
    };
    set(&mut out.depth_z, depth_z, 1);
    set(&mut out.normals, normals, 4);
    set(&mut out.motion, motion, 4);
    if has_depth {
        encode_depth(out, cfg);
    } else {
        zero_plane(&mut out.depth, mw, mh, 1);
    }
    ensure_shape(&mut out.edges, mw, mh, 1);
    out.has_depth = has_depth;
    out.has_normals = has_normals;
}

/// `out.depth` from `out.depth_z`: the model's encoding `1 / (1 + z / depth_scale)`.
pub fn encode_depth(out: &mut ModelResRef, cfg: &PreprocessConfig) {
    encode_depth_into(&out.depth_z, cfg, &mut out.depth);
}

/// The model's depth encoding `1 / (1 + z / depth_scale)` of view depth `depth_z` into `out`
/// (resized to it).
pub fn encode_depth_into(depth_z: &ImageF32, cfg: &PreprocessConfig, out: &mut ImageF32) {
    ensure_shape(out, depth_z.width, depth_z.height, 1);
    for (e, z) in out.data.iter_mut().zip(&depth_z.data) {
        *e = 1.0 / (1.0 + z.max(0.0) / cfg.depth_scale);
    }
}

/// Resampled motion (4 channels, frame pixels in xy) in model pixels, zw = 0.
fn to_model_pixels(motion: &mut ImageF32, (sw, sh): (u32, u32)) {
    let (kx, ky) = (
        motion.width as f32 / sw as f32,
        motion.height as f32 / sh as f32,
    );
    for p in motion.data.chunks_exact_mut(4) {
        p[0] *= kx;
        p[1] *= ky;
        p[2] = 0.0;
        p[3] = 0.0;
    }
}

/// The resampled normals (4 channels) scaled to unit length; a (near) zero average has no
/// direction and reports "no normal" (0).
fn unit_normals(img: &mut ImageF32) {
    for p in img.data.chunks_exact_mut(4) {
        let len = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        if len > 1e-6 {
            p[..3].iter_mut().for_each(|v| *v /= len);
        } else {
            p[..3].iter_mut().for_each(|v| *v = 0.0);
        }
        p[3] = 0.0;
    }
}

/// A model-size aux image, as [`resample_frame_into`] makes it, straight from a submitted plane:
/// `data` is `sw` x `sh` pixels of `kind`'s floats, tight rows. Depth: the view depth z (1 channel;
/// [`encode_depth`] makes the model's encoding); normals: unit length (4 channels); motion: in
/// model pixels (4 channels). The CPU preprocessor uses it at upload so the full-resolution planes
/// are never copied: the same values as resampling the decoded plane (decoding them is a copy).
pub fn resample_aux_into(
    kind: AuxKind,
    data: &[f32],
    size: (u32, u32),
    cfg: &PreprocessConfig,
    plans: &mut ResamplePlans,
    out: &mut ImageF32,
) {
    resample_aux_with(kind, data, size, cfg, plans, out, false);
}

/// [`resample_aux_into`], checking every source row against the G-buffer sanitizer's rules as
/// the vertical sums read it (`frame::aux_row_clean`; from cache, instead of the sanitizer's own
/// pass over the plane): true when the plane is clean. After false, `out` holds the resample of
/// the bad values: sanitize the plane (`frame::sanitize_plane`) and resample it again.
pub fn resample_aux_checked(
    kind: AuxKind,
    data: &[f32],
    size: (u32, u32),
    cfg: &PreprocessConfig,
    plans: &mut ResamplePlans,
    out: &mut ImageF32,
) -> bool {
    resample_aux_with(kind, data, size, cfg, plans, out, true)
}

fn resample_aux_with(
    kind: AuxKind,
    data: &[f32],
    (sw, sh): (u32, u32),
    cfg: &PreprocessConfig,
    plans: &mut ResamplePlans,
    out: &mut ImageF32,
    checked: bool,
) -> bool {
    let (mw, mh) = (cfg.model_width, cfg.model_height);
    let c = if matches!(kind, AuxKind::Depth) { 1 } else { 4 };
    ensure_shape(out, mw, mh, c);
    let n = sw as usize * sh as usize * kind.channels();
    if sw == 0 || sh == 0 || mw == 0 || mh == 0 || data.len() < n {
        out.data.fill(0.0);
        return true; // nothing read, nothing of the plane used
    }
    plans.x.rebuild(sw, mw);
    plans.y.rebuild(sh, mh);
    let (px, py, o) = (&plans.x, &plans.y, &mut out.data);
    let check = checked.then_some((kind, (sw, sh)));
    let sw = sw as usize;
    match kind {
        AuxKind::Depth => resample_rows_checked::<1, 1>(data, sw, px, py, o, check),
        AuxKind::Normals => {
            let clean = resample_rows_checked::<3, 4>(data, sw, px, py, o, check);
            unit_normals(out);
            clean
        }
        AuxKind::Motion => {
            let clean = resample_rows_checked::<2, 4>(data, sw, px, py, o, check);
            to_model_pixels(out, (sw as u32, sh));
            clean
        }
    }
}

/// [`vertical_sum`] of `C`-channel source rows (the frame's width) with `kind`'s sanitizer rule tested
/// on every value loaded (true when every one keeps it): 8 pixels (`C` registers) per step down
/// all the footprint's rows, the sums kept in registers and stored once, in [`vertical_sum`]'s
/// order (the same bits), the rule's lane masks from `frame::gbuffer_scan::avx2`; the last
/// `sw % 8` pixels by the scalar loops.
///
/// # Safety
/// AVX2; `kind` has `C` channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_sum_checked_avx2<const C: usize>(
    kind: AuxKind,
    data: &[f32],
    y0: usize,
    wys: &[f32],
    (w, h): (u32, u32),
    v: &mut [f32],
) -> bool {
    use std::arch::x86_64::*;

    use crate::frame::gbuffer_scan::{avx2, tail_clean};
    debug_assert_eq!(kind.channels(), C);
    let (sw, size) = (w as usize, (w as f32, h as f32));
    let line_len = sw * C;
    let full = sw - sw % 8;
    let v = &mut v[..line_len];
    let mut ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    let mut tail_ok = true;
    // Every row the sums read holds `line_len` floats (checked once, then read by pointer).
    let rows = &data[y0 * line_len..][..wys.len() * line_len];
    // 8 pixels at a time down all the footprint's rows, the sums in registers (one store per
    // group instead of a read-modify-write of the line per row).
    let mut x = 0;
    while x < full {
        let mut acc = [_mm256_setzero_ps(); C];
        for (dy, &wy) in wys.iter().enumerate() {
            let src = rows.as_ptr().add(dy * line_len + C * x);
            // Each footprint row is a stream of its own: prefetched rather than left to the
            // hardware's stream detection.
            let ahead = (src as *const u8).wrapping_add(PREFETCH_BYTES);
            _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
            if C > 1 {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64) as *const i8);
            }
            let wv = _mm256_set1_ps(wy);
            let mut r = [_mm256_setzero_ps(); C];
            for (k, (r, a)) in r.iter_mut().zip(acc.iter_mut()).enumerate() {
                *r = _mm256_loadu_ps(src.add(8 * k));
                let s = _mm256_mul_ps(*r, wv);
                *a = if dy == 0 { s } else { _mm256_add_ps(*a, s) };
            }
            let good = match kind {
                AuxKind::Depth => avx2::depth_ok(r[0]),
                AuxKind::Normals => avx2::normals_ok(r[0], r[1], r[2 % C]),
                AuxKind::Motion => avx2::motion_ok(r[0], r[1 % C], x, (y0 + dy) as f32 + 0.5, size),
            };
            ok = _mm256_and_ps(ok, good);
        }
        for (k, a) in acc.into_iter().enumerate() {
            _mm256_storeu_ps(v.as_mut_ptr().add(C * x + 8 * k), a);
        }
        x += 8;
    }
    for (dy, &wy) in wys.iter().enumerate() {
        let y = y0 + dy;
        let line = &rows[dy * line_len..][..line_len];
        for i in C * full..line_len {
            v[i] = if dy == 0 {
                line[i] * wy
            } else {
                v[i] + line[i] * wy
            };
        }
        if full < sw {
            tail_ok &= tail_clean(kind, bytemuck::cast_slice(line), full, y, size);
        }
    }
    _mm256_movemask_ps(ok) == 0xff && tail_ok
}

/// Resample and encode every plane of `frame` for the model (edges left at 0; see
/// `reference::edges::model_inputs` for the whole preprocessing chain).
pub fn resample_frame(frame: &DecodedFrame, cfg: &PreprocessConfig) -> ModelResRef {
    let mut out = ModelResRef::new(cfg.model_width, cfg.model_height);
    resample_frame_into(frame, cfg, &mut ResamplePlans::default(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: per output pixel, the overlap-weighted mean over its 2D footprint (the
    /// shader's sum of `p wx wy`).
    fn footprint_mean(src: &ImageF32, dw: u32, dh: u32) -> ImageF32 {
        let (px, py) = (AxisPlan::new(src.width, dw), AxisPlan::new(src.height, dh));
        let c = src.channels as usize;
        let mut out = ImageF32::new(dw, dh, src.channels);
        for oy in 0..dh as usize {
            let (y0, wys) = py.taps(oy);
            for ox in 0..dw as usize {
                let (x0, wxs) = px.taps(ox);
                let (mut acc, mut wsum) = (vec![0f64; c], 0f64);
                for (dy, &wy) in wys.iter().enumerate() {
                    for (dx, &wx) in wxs.iter().enumerate() {
                        let w = f64::from(wx) * f64::from(wy);
                        let i = ((y0 + dy) * src.width as usize + x0 + dx) * c;
                        for (k, a) in acc.iter_mut().enumerate() {
                            *a += f64::from(src.data[i + k]) * w;
                        }
                        wsum += w;
                    }
                }
                for (k, a) in acc.iter().enumerate() {
                    out.data[(oy * dw as usize + ox) * c + k] = (a / wsum) as f32;
                }
            }
        }
        out
    }

    /// The separable sum gives the footprint mean (to f32 rounding) for every channel count,
    /// downsampling by integer and fractional ratios and upsampling.
    /// 8-bit colour resampled from its bytes (decoded as the sums read them) has the bits of the
    /// decoded image's resample, in both byte orders, at sizes that cover up- and downsampling.
    #[test]
    fn colour_from_bytes_matches_the_decoded_image() {
        use crate::frame::{ColorFormat, FrameRef};
        use crate::reference::decode::decode_color;
        let cfg = |mw, mh| PreprocessConfig {
            model_width: mw,
            model_height: mh,
            color_space: ModelColorSpace::Srgb,
            depth_scale: 10.0,
            edges: Default::default(),
        };
        for (sw, sh, mw, mh) in [
            (61u32, 37u32, 13u32, 8u32),
            (10, 7, 23, 15),
            (64, 36, 16, 9),
        ] {
            let bytes: Vec<u8> = (0..sw * sh * 4).map(|i| (i * 37 % 251) as u8).collect();
            // The same rows 20 bytes apart more (a padded pitch): read in place, the same bits.
            let row = sw as usize * 4;
            let mut padded = vec![0xabu8; (row + 20) * sh as usize];
            for (d, s) in padded
                .chunks_exact_mut(row + 20)
                .zip(bytes.chunks_exact(row))
            {
                d[..row].copy_from_slice(s);
            }
            let layouts = [(&bytes, row), (&padded, row + 20)];
            for (format, (data, pitch)) in [ColorFormat::Rgba8Srgb, ColorFormat::Bgra8Srgb]
                .into_iter()
                .flat_map(|f| layouts.map(|l| (f, l)))
            {
                let mut frame = FrameRef::color_only(sw, sh, format, data);
                frame.color.row_pitch = pitch;
                let none = ImageF32::new(0, 0, 4);
                let color = ColorRows::new(&frame, &none);
                assert!(matches!(color, ColorRows::Srgb8 { .. }));
                let mut got = ModelResRef::new(mw, mh);
                let mut plans = ResamplePlans::default();
                resample_color_into(color, &cfg(mw, mh), &mut plans, &mut got);
                let decoded_image = decode_color(&frame);
                let decoded = ColorRows::Linear(&decoded_image);
                assert_eq!(color.to_linear(), decoded_image);
                let mut want = ModelResRef::new(mw, mh);
                resample_color_into(decoded, &cfg(mw, mh), &mut plans, &mut want);
                let bits = |m: &ModelResRef| {
                    let all = m.color.data.iter().chain(&m.color_linear.data);
                    all.map(|v| v.to_bits()).collect::<Vec<_>>()
                };
                assert!(
                    bits(&got) == bits(&want),
                    "{sw}x{sh} -> {mw}x{mh} {format:?} pitch {pitch}"
                );
            }
        }
    }

    /// The checked aux resample tests every source row whatever the ratio (down, up, 1:1; rows
    /// with and without a partial group of 8 pixels; fused into the vertical sums where the CPU
    /// has AVX2): one bad value in any row, of any kind, makes it false; a clean plane is true
    /// and gives the unchecked resample's bits.
    #[test]
    fn checked_resample_sees_every_source_row() {
        let cfg = |mw, mh| PreprocessConfig {
            model_width: mw,
            model_height: mh,
            color_space: ModelColorSpace::Srgb,
            depth_scale: 10.0,
            edges: crate::gpu::preprocess::EdgeParams::default(),
        };
        let mut plans = ResamplePlans::default();
        for ((sw, sh), (mw, mh)) in [
            ((37, 29), (12, 8)),
            ((7, 5), (12, 8)),
            ((29, 29), (29, 29)),
            ((40, 9), (3, 2)),
        ] {
            let c = cfg(mw, mh);
            for (kind, bad) in [
                (AuxKind::Depth, [f32::NAN, 0.0, 0.0]),
                (AuxKind::Depth, [2.0e6, 0.0, 0.0]),
                (AuxKind::Normals, [0.0, 3.0, 4.0]),
                (AuxKind::Normals, [0.0, 0.0, f32::NAN]),
                (AuxKind::Motion, [1.0e9, 0.0, 0.0]),
                (AuxKind::Motion, [0.0, -1.0e9, 0.0]),
            ] {
                let ch = kind.channels();
                // Values within the rules that differ from pixel to pixel (the sums' bits).
                let clean: Vec<f32> = (0..(sw * sh) as usize * ch)
                    .map(|i| match ch {
                        1 => 3.0 + (i % 5) as f32 + (i % 13) as f32 / 16.0,
                        _ => ((i * 37) % 17) as f32 / 40.0 - 0.2,
                    })
                    .collect();
                let (mut a, mut b) = (ImageF32::new(0, 0, 1), ImageF32::new(0, 0, 1));
                assert!(resample_aux_checked(
                    kind,
                    &clean,
                    (sw, sh),
                    &c,
                    &mut plans,
                    &mut a
                ));
                resample_aux_into(kind, &clean, (sw, sh), &c, &mut plans, &mut b);
                assert_eq!(a, b);
                for y in 0..sh as usize {
                    let mut d = clean.clone();
                    let at = (y * sw as usize + (y * 7) % sw as usize) * ch;
                    d[at..at + ch].copy_from_slice(&bad[..ch]);
                    assert!(
                        !resample_aux_checked(kind, &d, (sw, sh), &c, &mut plans, &mut a),
                        "{kind:?} {sw}x{sh} -> {mw}x{mh}: bad value in row {y} not seen"
                    );
                }
            }
        }
    }

    /// The vertical sums of 8-bit rows: the AVX-512 VBMI build (where the CPU has it) gives the
    /// scalar build's bits, both byte orders, rows with and without a partial 16-pixel group.
    #[test]
    fn byte_row_sums_agree_across_builds() {
        if !super::super::byte_lut::use_vbmi() {
            eprintln!("no AVX-512 VBMI here: nothing to compare");
            return;
        }
        #[cfg(target_arch = "x86_64")]
        for w in [16usize, 37, 64, 5, 300] {
            // Every byte value in every channel (alpha included) once w >= 256.
            let bytes: Vec<u8> = (0..w * 4 * 5)
                .map(|i| ((i * 89 + i / 4) % 256) as u8)
                .collect();
            let wys = [0.25f32, 1.0, 1.0, 0.6];
            for bgr in [false, true] {
                let mut want = vec![0f32; w * 4];
                let mut got = vec![0f32; w * 4];
                vertical_sum_srgb8(&bytes, w * 4, bgr, 1, &wys, w, &mut want);
                // SAFETY: `use_vbmi` found the features.
                unsafe { vertical_sum_srgb8_vbmi(&bytes, w * 4, bgr, 1, &wys, w, &mut got) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "width {w}, bgr {bgr}");
            }
        }
    }

    #[test]
    fn separable_sum_is_the_footprint_mean() {
        let mut seed = 0x27d4_eb2fu32;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1 << 24) as f32
        };
        for (sw, sh, dw, dh) in [
            (64, 36, 16, 9),
            (61, 37, 13, 8),
            (10, 7, 23, 15),
            (9, 9, 9, 9),
        ] {
            for c in 1..=4u32 {
                let mut src = ImageF32::new(sw, sh, c);
                src.data.iter_mut().for_each(|v| *v = 4.0 * rand() - 1.0);
                let got = area_resample(&src, dw, dh);
                let want = footprint_mean(&src, dw, dh);
                for (g, w) in got.data.iter().zip(&want.data) {
                    assert!(
                        (g - w).abs() <= 2e-6 * w.abs().max(1.0),
                        "{sw}x{sh} -> {dw}x{dh} x{c}: {g} vs {w}"
                    );
                }
            }
        }
    }
}
