// Resample: exact area (box-overlap) filter from the engine's resolution to the model's, then the
// per-plane encoding the model expects. Works for any ratio, including upsampling: each output pixel
// averages the source pixels its footprint [o*s, (o+1)*s) overlaps, weighted by the overlap length.
// CPU reference: rust/realmaster/src/reference/resample.rs (same loop order and f32 arithmetic).
//
// Entry points (bindings used):
//   resample_color (0, 1, 2, 3): linear RGBA -> dst4 = model color space, dst4b = linear copy
//   resample_vec   (0, 1, 2):    normals (mode 1: renormalised) or motion (mode 2: scaled to model px)
//   resample_depth (0, 4, 5, 6): view depth -> dst1 = 1 / (1 + z / depth_scale), dst1b = raw z

struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    // Source pixels per output pixel (src / dst) in x and y.
    scale_x: f32,
    scale_y: f32,
    // 1 = normals, 2 = motion (resample_vec only).
    mode: u32,
    // 0 = sRGB-encoded output, 1 = linear output (resample_color only).
    color_space: u32,
    depth_scale: f32,
    // Motion vector scale to model pixels: dst / src.
    motion_x: f32,
    motion_y: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst4b: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> src1: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst1: array<f32>;
@group(0) @binding(6) var<storage, read_write> dst1b: array<f32>;

// Footprint of output index `o` on the source axis, as [first, end) pixel indices and [lo, hi) extent.
struct Span {
    first: u32,
    end: u32,
    lo: f32,
    hi: f32,
}

fn span(o: u32, scale: f32, n: u32) -> Span {
    let lo = f32(o) * scale;
    let hi = f32(o + 1u) * scale;
    let first = min(u32(floor(lo)), n - 1u);
    let end = max(min(u32(ceil(hi)), n), first + 1u);
    return Span(first, end, lo, hi);
}

fn overlap(s: Span, i: u32) -> f32 {
    return max(min(s.hi, f32(i + 1u)) - max(s.lo, f32(i)), 0.0);
}

fn area4(ox: u32, oy: u32) -> vec4<f32> {
    let sx = span(ox, params.scale_x, params.src_width);
    let sy = span(oy, params.scale_y, params.src_height);
    var acc = vec4<f32>(0.0);
    var wsum = 0.0;
    for (var y = sy.first; y < sy.end; y++) {
        let wy = overlap(sy, y);
        for (var x = sx.first; x < sx.end; x++) {
            let w = overlap(sx, x) * wy;
            acc += src4[y * params.src_width + x] * w;
            wsum += w;
        }
    }
    return acc / wsum;
}

fn area1(ox: u32, oy: u32) -> f32 {
    let sx = span(ox, params.scale_x, params.src_width);
    let sy = span(oy, params.scale_y, params.src_height);
    var acc = 0.0;
    var wsum = 0.0;
    for (var y = sy.first; y < sy.end; y++) {
        let wy = overlap(sy, y);
        for (var x = sx.first; x < sx.end; x++) {
            let w = overlap(sx, x) * wy;
            acc += src1[y * params.src_width + x] * w;
            wsum += w;
        }
    }
    return acc / wsum;
}

fn linear_to_srgb(c: f32) -> f32 {
    if c <= 0.0031308 {
        return c * 12.92;
    }
    return 1.055 * pow(c, 1.0 / 2.4) - 0.055;
}

@compute @workgroup_size(8, 8, 1)
fn resample_color(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.dst_width || gid.y >= params.dst_height {
        return;
    }
    let i = gid.y * params.dst_width + gid.x;
    let lin = area4(gid.x, gid.y);
    dst4b[i] = lin;
    if params.color_space == 0u {
        let c = clamp(lin.xyz, vec3<f32>(0.0), vec3<f32>(1.0));
        dst4[i] = vec4<f32>(linear_to_srgb(c.x), linear_to_srgb(c.y), linear_to_srgb(c.z), lin.w);
    } else {
        dst4[i] = lin;
    }
}

@compute @workgroup_size(8, 8, 1)
fn resample_vec(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.dst_width || gid.y >= params.dst_height {
        return;
    }
    let v = area4(gid.x, gid.y);
    var o = vec4<f32>(0.0);
    if params.mode == 1u {
        let len = length(v.xyz);
        // Averaging across a crease shortens the normal; a (near) zero average has no direction.
        if len > 1e-6 {
            o = vec4<f32>(v.xyz / len, 0.0);
        }
    } else {
        o = vec4<f32>(v.x * params.motion_x, v.y * params.motion_y, 0.0, 0.0);
    }
    dst4[gid.y * params.dst_width + gid.x] = o;
}

@compute @workgroup_size(8, 8, 1)
fn resample_depth(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.dst_width || gid.y >= params.dst_height {
        return;
    }
    let i = gid.y * params.dst_width + gid.x;
    let z = area1(gid.x, gid.y);
    dst1b[i] = z;
    // Depth is a distance in front of the camera; a negative value is treated as at the camera.
    dst1[i] = 1.0 / (1.0 + max(z, 0.0) / params.depth_scale);
}
