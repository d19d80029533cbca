// Edges, pass 3 of 3: hysteresis. `grow` is one Jacobi step (reads one state buffer, writes the
// other): a weak pixel with a strong 8-neighbour becomes strong. The host records up to N steps,
// ping-ponging the buffers. Step 0 is a plain dispatch; step i > 0 is an indirect dispatch whose
// workgroup counts step i - 1 writes only when it changed something, so once nothing changes the
// remaining steps dispatch zero workgroups (both buffers then hold the fixed point).
// `finalize` writes 1.0 for strong pixels and 0.0 elsewhere.
// CPU reference: rust/realmaster/src/reference/edges.rs (same Jacobi steps, same bound).

struct Params {
    width: u32,
    height: u32,
    // Where this step writes the next step's dispatch arguments (entry index in next_args).
    slot: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> state_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> state_out: array<u32>;
// Indirect dispatch arguments (x, y, z workgroups) for the next step, at index 3 * params.slot;
// the host zeroes them every frame.
@group(0) @binding(3) var<storage, read_write> next_args: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> edges: array<f32>;

fn is_strong(x: i32, y: i32) -> bool {
    if x < 0 || y < 0 || x >= i32(params.width) || y >= i32(params.height) {
        return false;
    }
    return state_in[u32(y) * params.width + u32(x)] == 2u;
}

@compute @workgroup_size(8, 8, 1)
fn grow(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    var s = state_in[i];
    if s == 1u {
        let x = i32(gid.x);
        let y = i32(gid.y);
        var strong = false;
        for (var dy = -1; dy <= 1; dy++) {
            for (var dx = -1; dx <= 1; dx++) {
                strong = strong || is_strong(x + dx, y + dy);
            }
        }
        if strong {
            s = 2u;
            let a = 3u * params.slot;
            atomicStore(&next_args[a], (params.width + 7u) / 8u);
            atomicStore(&next_args[a + 1u], (params.height + 7u) / 8u);
            atomicStore(&next_args[a + 2u], 1u);
        }
    }
    state_out[i] = s;
}

@compute @workgroup_size(8, 8, 1)
fn finalize(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    edges[i] = select(0.0, 1.0, state_in[i] == 2u);
}
