// Guided upsample, step 2 (full resolution): the coefficients of guided_coeffs.wgsl bilinearly
// interpolated at the pixel's model-size position
//   u = clamp((p + 0.5) * lr_size / size - 0.5, 0, lr_size - 1),  taps floor(u) and floor(u) + 1
//   (clamped), lerp along y, then along x
// and applied to the full-res input colour:
//   residual_k = dot(coeff_k, (P(guide), 1)),  out = (max(guide.rgb + residual, 0) - guide.rgb, 1)
// (the residual that brings the guide to the non-negative picture; blend.wgsl adds it back)
// The residual's edges are the full-res guide's, whatever the model size.
// CPU reference: rust/realmaster/src/reference/guided_upsample.rs.

struct Params {
    lr_width: u32,
    lr_height: u32,
    width: u32,
    height: u32,
    eps: f32,
    edge_ridge: f32,
    edge_pull: f32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> guide: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> coeffs: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<f32>>;

fn perceptual(c: vec3<f32>) -> vec3<f32> {
    let p = max(c, vec3<f32>(0.0));
    return sqrt(p / (1.0 + p));
}

fn lerp_coeff(t00: u32, t01: u32, t10: u32, t11: u32, k: u32, fx: f32, fy: f32) -> vec4<f32> {
    let a = coeffs[t00 * 3u + k];
    let b = coeffs[t01 * 3u + k];
    let c = coeffs[t10 * 3u + k];
    let d = coeffs[t11 * 3u + k];
    // a, b: row i0 at columns i0, i1; c, d: row i1.
    let left = a + fy * (c - a);
    let right = b + fy * (d - b);
    return left + fx * (right - left);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    let g = guide[i];
    let lr = vec2<f32>(f32(params.lr_width), f32(params.lr_height));
    let size = vec2<f32>(f32(params.width), f32(params.height));
    let u = clamp((vec2<f32>(gid.xy) + 0.5) * (lr / size) - 0.5, vec2<f32>(0.0), lr - 1.0);
    let i0 = vec2<u32>(floor(u));
    let i1 = min(i0 + 1u, vec2<u32>(params.lr_width - 1u, params.lr_height - 1u));
    let f = u - vec2<f32>(i0);
    let t00 = i0.y * params.lr_width + i0.x;
    let t01 = i0.y * params.lr_width + i1.x;
    let t10 = i1.y * params.lr_width + i0.x;
    let t11 = i1.y * params.lr_width + i1.x;
    let q = vec4<f32>(perceptual(g.xyz), 1.0);
    let res = vec3<f32>(
        dot(lerp_coeff(t00, t01, t10, t11, 0u, f.x, f.y), q),
        dot(lerp_coeff(t00, t01, t10, t11, 1u, f.x, f.y), q),
        dot(lerp_coeff(t00, t01, t10, t11, 2u, f.x, f.y), q),
    );
    dst[i] = vec4<f32>(max(g.xyz + res, vec3<f32>(0.0)) - g.xyz, 1.0);
}
