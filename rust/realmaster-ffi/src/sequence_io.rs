//! Sequence folders and PNG output for C++ hosts and tests, backed by `realmaster::sequence`.

use std::cell::RefCell;
use std::path::Path;

use realmaster::frame::linear_to_srgb;
use realmaster::sequence::{write_png_rgba8, Sequence};
use realmaster::{ColorFormat, OwnedFrame};

use crate::convert::{format_from_ffi, format_to_ffi, light_to_ffi};
use crate::ffi::{OutputFrame, SequenceFrame, SequenceInfo, Status, StatusCode};
use crate::guard::{guarded_status, status};
use crate::utf8_path;

thread_local! {
    // Opening a sequence checks that every frame file exists; keep the last one per thread so a
    // host that loads frame after frame does that once, not once per frame.
    static OPEN: RefCell<Option<Sequence>> = const { RefCell::new(None) };
}

fn with_sequence<T>(
    dir: &str,
    f: impl FnOnce(&Sequence) -> Result<T, Status>,
) -> Result<T, Status> {
    OPEN.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|s| s.dir() != Path::new(dir)) {
            *cell = Some(Sequence::open(dir)?);
        }
        match cell.as_ref() {
            Some(s) => f(s),
            None => Err(status(
                StatusCode::Internal,
                "internal error: sequence cache empty after open",
            )),
        }
    })
}

pub fn sequence_info(dir: &[u8], info: &mut SequenceInfo) -> Status {
    guarded_status(|| {
        with_sequence(utf8_path(dir)?, |s| {
            *info = SequenceInfo {
                width: s.width(),
                height: s.height(),
                frame_count: s.frame_count(),
                fps: s.fps(),
                has_depth: s.has_depth(),
                has_normals: s.has_normals(),
                has_motion: s.has_motion(),
            };
            Ok(())
        })
    })
}

pub fn load_sequence_frame(dir: &[u8], index: u32, out: &mut SequenceFrame) -> Status {
    guarded_status(|| {
        with_sequence(utf8_path(dir)?, |s| {
            // Move `out`'s vectors into an OwnedFrame and back so their allocations are reused.
            let mut f = OwnedFrame {
                color: std::mem::take(&mut out.color),
                depth: std::mem::take(&mut out.depth),
                normals: std::mem::take(&mut out.normals),
                motion: std::mem::take(&mut out.motion),
                ..OwnedFrame::default()
            };
            let r = s.load_frame_into(index, &mut f);
            out.width = f.width;
            out.height = f.height;
            out.format = format_to_ffi(f.format);
            out.camera_cut = f.camera_cut;
            out.light = light_to_ffi(f.light);
            out.color = f.color;
            out.depth = if f.has_depth { f.depth } else { clear(f.depth) };
            out.normals = if f.has_normals {
                f.normals
            } else {
                clear(f.normals)
            };
            out.motion = if f.has_motion {
                f.motion
            } else {
                clear(f.motion)
            };
            r.map_err(Into::into)
        })
    })
}

fn clear(mut v: Vec<u8>) -> Vec<u8> {
    v.clear();
    v
}

/// Tight RGBA8 (sRGB) from any output format.
fn to_rgba8(format: ColorFormat, data: &[u8]) -> Vec<u8> {
    let enc = |v: f32| (linear_to_srgb(v).clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    match format {
        ColorFormat::Rgba8Srgb => data.to_vec(),
        ColorFormat::Bgra8Srgb => data
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], p[3]])
            .collect(),
        ColorFormat::Rgba16Float => data
            .chunks_exact(8)
            .flat_map(|p| {
                let c = |i: usize| half::f16::from_le_bytes([p[2 * i], p[2 * i + 1]]).to_f32();
                [
                    enc(c(0)),
                    enc(c(1)),
                    enc(c(2)),
                    (c(3).clamp(0.0, 1.0) * 255.0 + 0.5) as u8,
                ]
            })
            .collect(),
        ColorFormat::Rgba32Float => data
            .chunks_exact(16)
            .flat_map(|p| {
                let c = |i: usize| {
                    f32::from_le_bytes([p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]])
                };
                [
                    enc(c(0)),
                    enc(c(1)),
                    enc(c(2)),
                    (c(3).clamp(0.0, 1.0) * 255.0 + 0.5) as u8,
                ]
            })
            .collect(),
    }
}

pub fn write_output_png(path: &[u8], frame: &OutputFrame) -> Status {
    guarded_status(|| {
        let path = utf8_path(path)?;
        let format = format_from_ffi(frame.format)?;
        if frame.width == 0 || frame.height == 0 {
            return Err(status(
                StatusCode::InvalidFrame,
                "invalid frame: the output frame is empty (fix: write a frame that latest_output filled)",
            ));
        }
        let need = frame.width as usize * frame.height as usize * format.bytes_per_pixel();
        if frame.data.len() != need {
            return Err(status(
                StatusCode::InvalidFrame,
                format!(
                    "invalid frame: output holds {} bytes but {}x{} {format:?} needs {need} (fix: pass a frame filled by latest_output)",
                    frame.data.len(),
                    frame.width,
                    frame.height
                ),
            ));
        }
        let rgba = to_rgba8(format, &frame.data);
        write_png_rgba8(Path::new(path), frame.width, frame.height, &rgba).map_err(Into::into)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_outputs_are_srgb_encoded_and_clamped() {
        let px: Vec<u8> = [0.0f32, 0.5, 2.0, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let out = to_rgba8(ColorFormat::Rgba32Float, &px);
        assert_eq!(out, vec![0, 188, 255, 255]); // linear 0.5 -> sRGB 0.7354 -> 188
        let h: Vec<u8> = [0.0f32, 0.5, 2.0, 1.0]
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        assert_eq!(to_rgba8(ColorFormat::Rgba16Float, &h), out);
        assert_eq!(
            to_rgba8(ColorFormat::Bgra8Srgb, &[1, 2, 3, 4]),
            vec![3, 2, 1, 4]
        );
    }

    #[test]
    fn missing_sequence_is_a_status() {
        let mut info = SequenceInfo::default();
        let s = sequence_info(b"/nonexistent/realmaster-seq", &mut info);
        assert_eq!(s.code, StatusCode::Sequence.repr, "{}", s.message);
    }
}
