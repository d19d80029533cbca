//! Conversions between the bridge's shared structs and the core's types. Values from C++ are not
//! trusted: unknown enum values and inconsistent sizes become `Status` errors, never panics.

use realmaster::{ColorFormat, FrameRef, PlaneRef};

use crate::ffi::{
    FrameDesc, Light, Mode, OutputFrame, OwnedFrame, PixelFormat, Settings, Stats, Status,
    StatusCode,
};
use crate::guard::status;
use crate::{opt_path, rm};

pub fn format_from_ffi(f: PixelFormat) -> Result<ColorFormat, Status> {
    Ok(match f {
        PixelFormat::Rgba8Srgb => ColorFormat::Rgba8Srgb,
        PixelFormat::Bgra8Srgb => ColorFormat::Bgra8Srgb,
        PixelFormat::Rgba16Float => ColorFormat::Rgba16Float,
        PixelFormat::Rgba32Float => ColorFormat::Rgba32Float,
        other => {
            return Err(status(
                StatusCode::InvalidFrame,
                format!("invalid frame: unknown pixel format value {} (fix: use a realmaster::PixelFormat constant)", other.repr),
            ))
        }
    })
}

pub fn format_to_ffi(f: ColorFormat) -> PixelFormat {
    match f {
        ColorFormat::Rgba8Srgb => PixelFormat::Rgba8Srgb,
        ColorFormat::Bgra8Srgb => PixelFormat::Bgra8Srgb,
        ColorFormat::Rgba16Float => PixelFormat::Rgba16Float,
        ColorFormat::Rgba32Float => PixelFormat::Rgba32Float,
    }
}

pub fn mode_from_ffi(m: Mode) -> Result<rm::Mode, Status> {
    match m {
        Mode::Realtime => Ok(rm::Mode::Realtime),
        Mode::Cinematic => Ok(rm::Mode::Cinematic),
        other => Err(status(
            StatusCode::Config,
            format!(
                "configuration: unknown mode value {} (fix: use Mode::Realtime or Mode::Cinematic)",
                other.repr
            ),
        )),
    }
}

fn mode_to_ffi(m: rm::Mode) -> Mode {
    match m {
        rm::Mode::Realtime => Mode::Realtime,
        rm::Mode::Cinematic => Mode::Cinematic,
    }
}

pub fn settings_from_config(c: &rm::SessionConfig) -> Settings {
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (model_width, model_height) = c.model_size.unwrap_or((0, 0));
    Settings {
        model_dir: path(&c.model_dir),
        ort_library: path(&c.ort_library),
        execution_provider: c.execution_provider.clone(),
        allow_ep_fallback: c.allow_ep_fallback,
        tensorrt_cache_dir: path(&c.tensorrt_cache_dir),
        mode: mode_to_ffi(c.mode),
        strength: c.strength,
        prompt: c.prompt.clone(),
        prompt_blend_frames: c.prompt_blend_frames,
        temporal_alpha: c.temporal_alpha,
        upsample_eps: c.upsample_eps,
        cut_threshold: c.cut_threshold,
        model_width,
        model_height,
        backend: c.backend.to_string(),
        exposure_lock: c.exposure_lock,
    }
}

pub fn config_from_settings(s: &Settings) -> Result<rm::SessionConfig, Status> {
    let model_size = match (s.model_width, s.model_height) {
        (0, 0) => None,
        (w, h) if w > 0 && h > 0 => Some((w, h)),
        (w, h) => {
            return Err(status(
                StatusCode::Config,
                format!("configuration: model size {w}x{h} has one zero side (fix: set both model_width and model_height, or neither)"),
            ))
        }
    };
    if !s.strength.is_finite() || !(0.0..=1.0).contains(&s.strength) {
        return Err(status(
            StatusCode::Config,
            format!(
                "configuration: strength {} is outside 0..1 (fix: pass a strength between 0 and 1)",
                s.strength
            ),
        ));
    }
    Ok(rm::SessionConfig {
        model_dir: opt_path(&s.model_dir),
        ort_library: opt_path(&s.ort_library),
        execution_provider: if s.execution_provider.is_empty() {
            "auto".into()
        } else {
            s.execution_provider.clone()
        },
        allow_ep_fallback: s.allow_ep_fallback,
        tensorrt_cache_dir: opt_path(&s.tensorrt_cache_dir),
        mode: mode_from_ffi(s.mode)?,
        strength: s.strength,
        prompt: s.prompt.clone(),
        prompt_blend_frames: s.prompt_blend_frames,
        temporal_alpha: s.temporal_alpha,
        upsample_eps: s.upsample_eps,
        cut_threshold: s.cut_threshold,
        model_size,
        backend: s
            .backend
            .parse()
            .map_err(|e: rm::Error| status(StatusCode::Config, format!("configuration: {e}")))?,
        exposure_lock: s.exposure_lock,
    })
}

/// A plane from a slice: empty = absent; pitch 0 = tightly packed.
fn plane(data: &[u8], pitch: usize, width: u32, bpp: usize) -> Option<PlaneRef<'_>> {
    (!data.is_empty()).then(|| PlaneRef {
        data,
        row_pitch: if pitch == 0 {
            width as usize * bpp
        } else {
            pitch
        },
    })
}

/// The frame's light, if C++ gave one; a zero or non-finite direction is an invalid frame.
pub fn light_from_ffi(l: &Light) -> Result<Option<rm::SceneLight>, Status> {
    if !l.present {
        return Ok(None);
    }
    rm::SceneLight::new(l.sun, l.up)
        .map(Some)
        .map_err(|e| status(StatusCode::InvalidFrame, e.to_string()))
}

/// The core's light as C++ sees it (`present` false for none).
pub fn light_to_ffi(l: Option<rm::SceneLight>) -> Light {
    l.map_or_else(Light::default, |l| Light {
        present: true,
        sun: l.sun(),
        up: l.up(),
    })
}

/// Borrow C++ memory as a core frame (no copy). The core validates sizes and pitches.
pub fn frame_ref<'a>(
    d: &FrameDesc,
    color: &'a [u8],
    depth: &'a [u8],
    normals: &'a [u8],
    motion: &'a [u8],
) -> Result<FrameRef<'a>, Status> {
    let format = format_from_ffi(d.format)?;
    let Some(color) = plane(color, d.color_row_pitch, d.width, format.bytes_per_pixel()) else {
        return Err(status(
            StatusCode::InvalidFrame,
            "invalid frame: the color buffer is empty (fix: pass the color buffer; only depth, normals and motion are optional)",
        ));
    };
    Ok(FrameRef {
        width: d.width,
        height: d.height,
        format,
        color,
        depth: plane(depth, d.depth_row_pitch, d.width, 4),
        normals: plane(normals, d.normals_row_pitch, d.width, 12),
        motion: plane(motion, d.motion_row_pitch, d.width, 8),
        camera_cut: d.camera_cut,
        light: light_from_ffi(&d.light)?,
    })
}

/// Hand the core's output to C++ without copying the pixels: the vectors are swapped, so `src`
/// keeps the caller's previous buffer for the next call.
pub fn move_output(src: &mut rm::OutputFrame, dst: &mut OutputFrame) -> Result<(), Status> {
    dst.width = src.width;
    dst.height = src.height;
    dst.format = format_to_ffi(src.format);
    dst.frame_index = src.frame_index;
    dst.enhanced = src.enhanced;
    std::mem::swap(&mut dst.data, &mut src.data);
    Ok(())
}

pub fn stats_to_ffi(s: &rm::Stats) -> Stats {
    Stats {
        frames_submitted: s.frames_submitted,
        frames_output: s.frames_output,
        frames_dropped: s.frames_dropped,
        inferences: s.inferences,
        last_inference_ms: s.last_inference_ms,
        last_preprocess_ms: s.last_preprocess_ms,
        last_composite_ms: s.last_composite_ms,
        output_latency_frames: s.output_latency_frames,
        execution_provider: s.execution_provider.clone(),
        window_resets: s.window_resets,
        frames_enhanced: s.frames_enhanced,
        frames_reprojected: s.frames_reprojected,
        frames_failed: s.frames_failed,
        model_faults: s.model_faults,
        frames_sanitized: s.frames_sanitized,
        backend: s.backend.clone(),
        last_frame_transfer_bytes: s.last_frame_transfer_bytes,
        submit_allocations: s.submit_allocations,
        model_reads_light: s.model_reads_light,
        frames_without_light: s.frames_without_light,
        last_upsample_eps: s.last_upsample_eps,
        last_upsample_edge_ridge: s.last_upsample_edge_ridge,
        last_upsample_edge_pull: s.last_upsample_edge_pull,
    }
}

pub fn health_to_status(h: &rm::Health) -> Status {
    match h {
        rm::Health::Ok => crate::guard::ok_status(),
        rm::Health::PassThrough { code, message } => Status {
            code: *code,
            message: message.clone(),
        },
    }
}

/// Move `f`'s vectors into a core frame (no copy); sizes are checked by the session.
pub fn take_owned(f: &mut OwnedFrame) -> Result<rm::OwnedFrame, Status> {
    let format = format_from_ffi(f.format)?;
    let light = light_from_ffi(&f.light)?;
    let take = std::mem::take;
    let (depth, normals, motion) = (
        take(&mut f.depth),
        take(&mut f.normals),
        take(&mut f.motion),
    );
    Ok(rm::OwnedFrame {
        width: f.width,
        height: f.height,
        format,
        color: take(&mut f.color),
        has_depth: !depth.is_empty(),
        has_normals: !normals.is_empty(),
        has_motion: !motion.is_empty(),
        depth,
        normals,
        motion,
        camera_cut: f.camera_cut,
        light,
    })
}

/// The core frame's vectors back into `f` (the recycled buffers after `submit_owned`).
pub fn give_back(o: rm::OwnedFrame, f: &mut OwnedFrame) {
    f.color = o.color;
    f.depth = o.depth;
    f.normals = o.normals;
    f.motion = o.motion;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(w: u32, h: u32, format: PixelFormat) -> FrameDesc {
        FrameDesc {
            width: w,
            height: h,
            format,
            color_row_pitch: 0,
            depth_row_pitch: 0,
            normals_row_pitch: 0,
            motion_row_pitch: 0,
            camera_cut: false,
            light: Default::default(),
        }
    }

    #[test]
    fn unknown_enum_values_are_errors_not_panics() {
        let mut d = desc(2, 2, PixelFormat::Rgba8Srgb);
        d.format = PixelFormat { repr: 99 };
        let e = frame_ref(&d, &[0; 16], &[], &[], &[]).unwrap_err();
        assert_eq!(e.code, StatusCode::InvalidFrame.repr);
        assert!(e.message.contains("99"));
        assert_eq!(
            mode_from_ffi(Mode { repr: 7 }).unwrap_err().code,
            StatusCode::Config.repr
        );
    }

    #[test]
    fn empty_planes_are_absent_and_zero_pitch_is_tight() {
        let d = desc(2, 1, PixelFormat::Rgba32Float);
        let depth = [0u8; 8];
        let f = frame_ref(&d, &[0; 32], &depth, &[], &[]).unwrap();
        assert_eq!(f.color.row_pitch, 32);
        assert_eq!(f.depth.unwrap().row_pitch, 8);
        assert!(f.normals.is_none() && f.motion.is_none());
        assert!(frame_ref(&d, &[], &[], &[], &[]).is_err());
    }

    #[test]
    fn settings_round_trip_and_checks() {
        let s = settings_from_config(&rm::SessionConfig::default());
        let c = config_from_settings(&s).unwrap();
        assert_eq!(c.model_size, None);
        assert_eq!(c.execution_provider, "auto");
        assert_eq!(s.backend, "auto");
        assert_eq!(c.backend, rm::Backend::Auto);
        let mut cpu = s.clone();
        cpu.backend = "cpu".into();
        assert_eq!(
            config_from_settings(&cpu).unwrap().backend,
            rm::Backend::Cpu
        );
        cpu.backend = "tpu".into();
        assert_eq!(
            config_from_settings(&cpu).unwrap_err().code,
            StatusCode::Config.repr
        );
        let mut bad = s.clone();
        bad.model_width = 64;
        assert_eq!(
            config_from_settings(&bad).unwrap_err().code,
            StatusCode::Config.repr
        );
        let mut bad = s;
        bad.strength = f32::NAN;
        assert_eq!(
            config_from_settings(&bad).unwrap_err().code,
            StatusCode::Config.repr
        );
    }
}
