// Edges, pass 2 of 3: non-maximum suppression along the quantised gradient direction, then the
// double threshold. A pixel survives if its strength is > the neighbour ahead and >= the one behind
// (the asymmetry keeps exactly one pixel of a two-pixel plateau, so edges stay 1 px thin).
// Output state: 0 none, 1 weak (>= low), 2 strong (>= high). Outside the image counts as strength 0.
// CPU reference: rust/realmaster/src/reference/edges.rs.

struct Params {
    width: u32,
    height: u32,
    low: f32,
    high: f32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;

fn strength_at(x: i32, y: i32) -> f32 {
    if x < 0 || y < 0 || x >= i32(params.width) || y >= i32(params.height) {
        return 0.0;
    }
    return grad[u32(y) * params.width + u32(x)].x;
}

@compute @workgroup_size(8, 8, 1)
fn edges_nms(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    let g = grad[i];
    let m = g.x;
    var step = vec2<i32>(1, 0);
    switch u32(g.y) {
        case 1u: { step = vec2<i32>(0, 1); }
        case 2u: { step = vec2<i32>(1, 1); }
        case 3u: { step = vec2<i32>(1, -1); }
        default: {}
    }
    let x = i32(gid.x);
    let y = i32(gid.y);
    let ahead = strength_at(x + step.x, y + step.y);
    let behind = strength_at(x - step.x, y - step.y);
    var s = 0u;
    if m > ahead && m >= behind {
        if m >= params.high {
            s = 2u;
        } else if m >= params.low {
            s = 1u;
        }
    }
    state[i] = s;
}
