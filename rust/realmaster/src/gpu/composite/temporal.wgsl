// Temporal accumulation of the model's RESIDUAL at model size. The engine's own content (edges,
// poses, motion) is never accumulated: only the model's look, `current - input`, is. With an identity
// model (residual 0 everywhere) the output residual is exactly 0 whatever the history holds.
//
// For pixel p with input colour i (the model's input) and current value c (the model's output):
//   r = c - i                                   (this frame's residual)
//   q = p + 0.5 + motion(p)                     (continuous position in the previous frame)
//   off-screen q, no history, or reset          -> out = r
//   bilinear taps of the history residual around q, each kept only if its previous depth matches:
//       |z_prev(tap) - z_cur(p)| <= depth_reject * |z_cur(p)|     (when both depths are known)
//   kept bilinear weight < 0.05                 -> disoccluded, out = r
//   h = history residual from the kept taps (renormalised)
//   colour clamp: i + h clamped in YCoCg to [max(min, mean - k sd), min(max, mean + k sd)] of c's 3x3
//       neighbourhood, then h = clamped - i     (history may not leave the current picture's range)
//   residual clamp, per rgb channel: h clamped to [min r - k sd_r, max r + k sd_r] over r's 3x3
//       neighbourhood (sd_r its standard deviation): history cannot invent a look the model does not
//       produce nearby now, yet a flickering residual is smoothed within its local spread
//   out = h (1 - alpha) + r alpha
// out.a = 1 (unused). CPU reference: rust/realmaster/src/reference/temporal.rs.

struct Params {
    width: u32,
    height: u32,
    // bit 0: history valid, bit 1: motion bound, bit 2: depth test (current and previous depth bound).
    flags: u32,
    _pad0: u32,
    alpha: f32,
    depth_reject: f32,
    clamp_k: f32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> current: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> history: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> motion: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> depth_cur: array<f32>;
@group(0) @binding(6) var<storage, read> depth_prev: array<f32>;
@group(0) @binding(7) var<storage, read_write> dst: array<vec4<f32>>;

fn to_ycocg(c: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(0.25 * c.x + 0.5 * c.y + 0.25 * c.z, 0.5 * c.x - 0.5 * c.z, -0.25 * c.x + 0.5 * c.y - 0.25 * c.z);
}

fn from_ycocg(v: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(v.x + v.y - v.z, v.x + v.z, v.x - v.y - v.z);
}

fn index(x: i32, y: i32) -> u32 {
    let cx = clamp(x, 0, i32(params.width) - 1);
    let cy = clamp(y, 0, i32(params.height) - 1);
    return u32(cy) * params.width + u32(cx);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    let inp = input[i].xyz;
    let r = current[i].xyz - inp;
    dst[i] = vec4<f32>(r, 1.0);
    if (params.flags & 1u) == 0u {
        return;
    }

    var m = vec2<f32>(0.0);
    if (params.flags & 2u) != 0u {
        m = motion[i].xy;
    }
    let size = vec2<f32>(f32(params.width), f32(params.height));
    let q = vec2<f32>(gid.xy) + 0.5 + m;
    if q.x < 0.0 || q.x > size.x || q.y < 0.0 || q.y > size.y {
        return;
    }
    let t = q - 0.5;
    let b = floor(t);
    let f = t - b;
    let x0 = i32(b.x);
    let y0 = i32(b.y);
    var taps = array<u32, 4>(index(x0, y0), index(x0 + 1, y0), index(x0, y0 + 1), index(x0 + 1, y0 + 1));
    var w = array<f32, 4>((1.0 - f.x) * (1.0 - f.y), f.x * (1.0 - f.y), (1.0 - f.x) * f.y, f.x * f.y);
    let depth_test = (params.flags & 4u) != 0u;
    var zc = 0.0;
    if depth_test {
        zc = depth_cur[i];
    }
    var hist = vec3<f32>(0.0);
    var wsum = 0.0;
    for (var k = 0; k < 4; k++) {
        var wk = w[k];
        if depth_test && abs(depth_prev[taps[k]] - zc) > params.depth_reject * abs(zc) {
            wk = 0.0;
        }
        hist += wk * history[taps[k]].xyz;
        wsum += wk;
    }
    if wsum < 0.05 {
        return;
    }
    hist = hist / wsum;

    // 3x3 neighbourhoods: the current colour in YCoCg, the current residual in rgb.
    var mn = vec3<f32>(3.0e38);
    var mx = vec3<f32>(-3.0e38);
    var s1 = vec3<f32>(0.0);
    var s2 = vec3<f32>(0.0);
    var rmn = vec3<f32>(3.0e38);
    var rmx = vec3<f32>(-3.0e38);
    var r1 = vec3<f32>(0.0);
    var r2 = vec3<f32>(0.0);
    let px = i32(gid.x);
    let py = i32(gid.y);
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            let j = index(px + dx, py + dy);
            let c = current[j].xyz;
            let v = to_ycocg(c);
            mn = min(mn, v);
            mx = max(mx, v);
            s1 += v;
            s2 += v * v;
            let rv = c - input[j].xyz;
            rmn = min(rmn, rv);
            rmx = max(rmx, rv);
            r1 += rv;
            r2 += rv * rv;
        }
    }
    let k = params.clamp_k;
    let mean = s1 / 9.0;
    let sd = sqrt(max(s2 / 9.0 - mean * mean, vec3<f32>(0.0)));
    let lo = max(mn, mean - k * sd);
    let hi = min(mx, mean + k * sd);
    let h_full = from_ycocg(min(max(to_ycocg(inp + hist), lo), hi));
    let rmean = r1 / 9.0;
    let rsd = sqrt(max(r2 / 9.0 - rmean * rmean, vec3<f32>(0.0)));
    let h = min(max(h_full - inp, rmn - k * rsd), rmx + k * rsd);
    let a = params.alpha;
    dst[i] = vec4<f32>(h * (1.0 - a) + r * a, 1.0);
}
