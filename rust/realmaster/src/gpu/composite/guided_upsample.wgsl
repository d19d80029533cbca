// Guided upsample: joint bilateral upsampling of the model's residual (out_lr - in_lr, linear RGB)
// to full resolution, guided by the full-res input colour. For full-res pixel p:
//   u = (p + 0.5) * lr_size / size - 0.5           (position in low-res pixel units)
//   taps t in the 4x4 low-res block around u (clamped to the edge)
//   w_s(t) = g(t.x - u.x) g(t.y - u.y) saturate(out_lr(t).a)              (alpha = validity)
//   g(d)   = max(exp(-d^2 / (2 sigma_s^2)) - exp(-2^2 / (2 sigma_s^2)), 0): a Gaussian lowered to reach
//            0 at the window radius 2, so taps enter and leave the sliding 4x4 window at weight 0
//            (no seams at integer u)
//   w(t)   = w_s(t) * exp(-|P(guide(p)) - P(in_lr(t))|^2 / (2 sigma_r^2))
//   P(c)   = sqrt(c / (1 + c)) per channel, c >= 0: perceptual, bounded for HDR
//   residual = sum(w r) / sum(w); if sum(w) < 1e-4 sum(w_s) (no tap looks like p): spatial weights;
//              if sum(w_s) ~ 0 (no valid tap): 0
//   out = (max(guide.rgb + residual, 0), guide.a)
// Taps across an edge get a tiny range weight, so the residual edge follows the full-res edge.
// CPU reference: rust/realmaster/src/reference/guided_upsample.rs.

struct Params {
    lr_width: u32,
    lr_height: u32,
    width: u32,
    height: u32,
    // 1 / (2 sigma_spatial^2), 1 / (2 sigma_range^2).
    inv_2ss: f32,
    inv_2sr: f32,
    // exp(-4 / (2 sigma_spatial^2)): the spatial Gaussian at the window radius.
    edge: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> guide: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> out_lr: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> in_lr: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dst: array<vec4<f32>>;

fn perceptual(c: vec3<f32>) -> vec3<f32> {
    let p = max(c, vec3<f32>(0.0));
    return sqrt(p / (1.0 + p));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    let g = guide[i];
    let pg = perceptual(g.xyz);
    let u = (vec2<f32>(gid.xy) + 0.5) * vec2<f32>(f32(params.lr_width) / f32(params.width), f32(params.lr_height) / f32(params.height)) - 0.5;
    let base = vec2<i32>(floor(u));
    // Separable windowed spatial weights: 4 along x, 4 along y.
    var wx: array<f32, 4>;
    var wy: array<f32, 4>;
    for (var k = 0; k < 4; k++) {
        let dx = f32(base.x - 1 + k) - u.x;
        let dy = f32(base.y - 1 + k) - u.y;
        wx[k] = max(exp(-dx * dx * params.inv_2ss) - params.edge, 0.0);
        wy[k] = max(exp(-dy * dy * params.inv_2ss) - params.edge, 0.0);
    }
    let maxx = i32(params.lr_width) - 1;
    let maxy = i32(params.lr_height) - 1;
    var sum_j = vec3<f32>(0.0);
    var w_j = 0.0;
    var sum_s = vec3<f32>(0.0);
    var w_s = 0.0;
    for (var ky = 0; ky < 4; ky++) {
        let ty = u32(clamp(base.y - 1 + ky, 0, maxy));
        for (var kx = 0; kx < 4; kx++) {
            let tx = u32(clamp(base.x - 1 + kx, 0, maxx));
            let t = ty * params.lr_width + tx;
            let o = out_lr[t];
            let n = in_lr[t];
            let r = o.xyz - n.xyz;
            let ws = wx[kx] * wy[ky] * clamp(o.w, 0.0, 1.0);
            let d = pg - perceptual(n.xyz);
            let w = ws * exp(-dot(d, d) * params.inv_2sr);
            sum_s += ws * r;
            w_s += ws;
            sum_j += w * r;
            w_j += w;
        }
    }
    var res = vec3<f32>(0.0);
    if w_j >= 1e-4 * w_s && w_j > 0.0 {
        res = sum_j / w_j;
    } else if w_s > 1e-8 {
        res = sum_s / w_s;
    }
    dst[i] = vec4<f32>(max(g.xyz + res, vec3<f32>(0.0)), g.w);
}
