// The accumulated look at model size: the model's input colour plus the temporally accumulated
// residual (temporal.wgsl's output), with the model output's alpha (its validity weight, which the
// guided upsample's fit reads):
//   dst = (input.rgb + residual.rgb, out.a)
// CPU reference: accumulated_look in rust/realmaster/src/reference/temporal.rs.

struct Params {
    width: u32,
    height: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> residual: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> model_out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    dst[i] = vec4<f32>(input[i].xyz + residual[i].xyz, model_out[i].w);
}
