// Reproject: warp `src` with a motion field. For each destination pixel p (centre p + 0.5),
//   out(p) = bilinear(src, (p + 0.5 + motion(p).xy) * src_size / dst_size)
// with motion in destination pixels (current -> previous frame). Samples whose position falls outside
// the source rectangle are flagged invalid: rgb is the clamp-to-edge sample (a sane fallback colour),
// alpha = 0. Valid samples carry the bilinear source alpha. One thread per destination pixel.
// CPU reference: rust/realmaster/src/reference/reproject.rs (same arithmetic).

struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> motion: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<f32>>;

fn texel(x: i32, y: i32) -> vec4<f32> {
    let cx = clamp(x, 0, i32(params.src_width) - 1);
    let cy = clamp(y, 0, i32(params.src_height) - 1);
    return src[u32(cy) * params.src_width + u32(cx)];
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.dst_width || gid.y >= params.dst_height {
        return;
    }
    let i = gid.y * params.dst_width + gid.x;
    let m = motion[i].xy;
    let sw = f32(params.src_width);
    let sh = f32(params.src_height);
    // Continuous source position (pixel centres at k + 0.5).
    let q = (vec2<f32>(gid.xy) + 0.5 + m) * vec2<f32>(sw / f32(params.dst_width), sh / f32(params.dst_height));
    let inside = q.x >= 0.0 && q.x <= sw && q.y >= 0.0 && q.y <= sh;
    // Clamp before converting to integers so huge motion cannot overflow.
    let t = clamp(q, vec2<f32>(0.0), vec2<f32>(sw, sh)) - 0.5;
    let b = floor(t);
    let f = t - b;
    let x0 = i32(b.x);
    let y0 = i32(b.y);
    let top = texel(x0, y0) * (1.0 - f.x) + texel(x0 + 1, y0) * f.x;
    let bottom = texel(x0, y0 + 1) * (1.0 - f.x) + texel(x0 + 1, y0 + 1) * f.x;
    var c = top * (1.0 - f.y) + bottom * f.y;
    if !inside {
        c.w = 0.0;
    }
    dst[i] = c;
}
