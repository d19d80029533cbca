// Guided upsample, step 1 (model size): per model pixel, the least-squares affine map from the
// perceptual input colour P(c) = sqrt(c / (1 + c)) to the residual r = out_lr - in_lr (linear RGB)
// over its 3x3 neighbourhood (clamped to the edge), each tap weighted by saturate(out_lr.a)
// (validity; a tap with a non-finite residual is left out), ridge-regularised by eps:
//   A = (cov(P, P) + eps I)^-1 cov(P, r),   b = mean(r) - A^T mean(P)
// Edge-aware (edge_ridge > 1 or edge_pull > 0): off the model input's edges (its edge plane dilated
// by one model pixel) the ridge pulls toward the look's own gain A0 (diagonal, ratio_prior below)
// by the weight edge_pull:
//   A = (cov(P, P) + eps I)^-1 (cov(P, r) + edge_pull eps A0);
// on them the ridge is eps * edge_ridge with no pull, so the engine's edges keep their contrast.
// No valid tap: A = 0, b = 0 (the residual is 0, the frame shows through).
// Written as three vec4 per model pixel, one per output channel k: (A[0][k], A[1][k], A[2][k], b[k]).
// Step 2 is guided_upsample.wgsl. CPU reference: rust/realmaster/src/reference/guided_upsample.rs.

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
@group(0) @binding(1) var<storage, read> out_lr: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> in_lr: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> coeffs: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> edges: array<f32>;

// The ridge's pull for one channel from the mean perceptual input p and mean residual r: the
// look's gain minus one, t = r / c with c = p^2 / (1 - p^2), clamped to -1..1, times
// dc/dp = 2p / (1 - p^2)^2 (the CPU's ratio_prior, the same floors).
fn ratio_prior(p: f32, r: f32) -> f32 {
    let p2 = p * p;
    let q = max(1.0 - p2, 1e-4);
    let t = min(max(r * q / max(p2, 1e-12), -1.0), 1.0);
    return (t + t) * p / (q * q);
}

// Whether the edge plane has an edge within one model pixel of (x, y) (clamped to the plane).
fn near_edge(x: i32, y: i32, lw: i32, lh: i32) -> bool {
    var on = false;
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            let t = clamp(y + dy, 0, lh - 1) * lw + clamp(x + dx, 0, lw - 1);
            on = on || edges[u32(t)] > 0.5;
        }
    }
    return on;
}

fn perceptual(c: vec3<f32>) -> vec3<f32> {
    let p = max(c, vec3<f32>(0.0));
    return sqrt(p / (1.0 + p));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.lr_width || gid.y >= params.lr_height {
        return;
    }
    let lw = i32(params.lr_width);
    let lh = i32(params.lr_height);
    // Each row of taps is summed first, then the rows ((t[-1] + t[0]) + t[+1] both ways): the CPU
    // sums the same way, separably.
    var sw = 0.0;
    var si = vec3<f32>(0.0);
    var sr = vec3<f32>(0.0);
    // Columns of the 3x3 sums: sii[j] = sum v P P_j, sir[k] = sum v P r_k.
    var sii = mat3x3<f32>(vec3<f32>(0.0), vec3<f32>(0.0), vec3<f32>(0.0));
    var sir = mat3x3<f32>(vec3<f32>(0.0), vec3<f32>(0.0), vec3<f32>(0.0));
    for (var dy = -1; dy <= 1; dy++) {
        let ty = clamp(i32(gid.y) + dy, 0, lh - 1);
        var rw = 0.0;
        var ri = vec3<f32>(0.0);
        var rr = vec3<f32>(0.0);
        var rii = mat3x3<f32>(vec3<f32>(0.0), vec3<f32>(0.0), vec3<f32>(0.0));
        var rir = mat3x3<f32>(vec3<f32>(0.0), vec3<f32>(0.0), vec3<f32>(0.0));
        for (var dx = -1; dx <= 1; dx++) {
            let tx = clamp(i32(gid.x) + dx, 0, lw - 1);
            let t = u32(ty * lw + tx);
            let o = out_lr[t];
            let n = in_lr[t];
            let r = o.xyz - n.xyz;
            let v = clamp(o.w, 0.0, 1.0);
            // NaN fails every comparison: such a tap is skipped.
            if !(v > 0.0 && all(abs(r) < vec3<f32>(3.0e38))) {
                continue;
            }
            let p = perceptual(n.xyz);
            let vp = v * p;
            rw += v;
            ri += vp;
            rr += v * r;
            rii += mat3x3<f32>(vp * p.x, vp * p.y, vp * p.z);
            rir += mat3x3<f32>(vp * r.x, vp * r.y, vp * r.z);
        }
        sw += rw;
        si += ri;
        sr += rr;
        sii += rii;
        sir += rir;
    }
    let base = (gid.y * params.lr_width + gid.x) * 3u;
    if sw < 1e-6 {
        coeffs[base] = vec4<f32>(0.0);
        coeffs[base + 1u] = vec4<f32>(0.0);
        coeffs[base + 2u] = vec4<f32>(0.0);
        return;
    }
    let inv = 1.0 / sw;
    let mi = si * inv;
    let mr = sr * inv;
    // The ridge, and whether it pulls toward the look's gain (edge-aware only).
    var ridge = params.eps;
    var pull = false;
    if params.edge_ridge > 1.0 || params.edge_pull > 0.0 {
        if near_edge(i32(gid.x), i32(gid.y), lw, lh) {
            ridge = params.eps * params.edge_ridge;
        } else {
            pull = true;
        }
    }
    // c[i][j] = E[P_i P_j] - mi_i mi_j + ridge [i == j];
    // x[i][k] = E[P_i r_k] - mi_i mr_k (+ edge_pull eps A0_k [i == k] where it pulls).
    var c: array<array<f32, 3>, 3>;
    var x: array<array<f32, 3>, 3>;
    for (var i = 0; i < 3; i++) {
        for (var j = 0; j < 3; j++) {
            c[i][j] = sii[j][i] * inv - mi[i] * mi[j] + select(0.0, ridge, i == j);
            x[i][j] = sir[j][i] * inv - mi[i] * mr[j];
        }
        if pull {
            x[i][i] += (params.eps * params.edge_pull) * ratio_prior(mi[i], mr[i]);
        }
    }
    // Cholesky c = L L^T (c >= eps I): stable where c is nearly singular along some colours (a
    // neighbourhood of greys varies along one axis only). The floors only keep NaN out of sqrt.
    let l00 = sqrt(max(c[0][0], 1e-20));
    let i00 = 1.0 / l00;
    let l10 = c[1][0] * i00;
    let l20 = c[2][0] * i00;
    let l11 = sqrt(max(c[1][1] - l10 * l10, 1e-20));
    let i11 = 1.0 / l11;
    let l21 = (c[2][1] - l20 * l10) * i11;
    let l22 = sqrt(max(c[2][2] - l20 * l20 - l21 * l21, 1e-20));
    let i22 = 1.0 / l22;
    for (var k = 0; k < 3; k++) {
        // L y = x_k, then L^T a = y.
        let y0 = x[0][k] * i00;
        let y1 = (x[1][k] - l10 * y0) * i11;
        let y2 = (x[2][k] - l20 * y0 - l21 * y1) * i22;
        let a2 = y2 * i22;
        let a1 = (y1 - l21 * a2) * i11;
        let a0 = (y0 - l10 * a1 - l20 * a2) * i00;
        let b = mr[k] - (a0 * mi[0] + a1 * mi[1] + a2 * mi[2]);
        coeffs[base + u32(k)] = vec4<f32>(a0, a1, a2, b);
    }
}
