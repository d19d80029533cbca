// Model output tensor [1,3,H,W] (planar NCHW, f32) -> 4-channel image (RGB, alpha = 1), same colour space.
// Non-finite values (a diverging model) become 0 and clear alpha so the compositor can reject them.

struct Params {
    width: u32,
    height: u32,
    offset: u32, // first float of the tensor inside `src`
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn finite(v: f32) -> bool {
    // NaN fails every comparison; Inf exceeds the largest finite f32.
    return v == v && abs(v) <= 3.4e38;
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.width || id.y >= params.height) {
        return;
    }
    let plane = params.width * params.height;
    let i = id.y * params.width + id.x;
    let r = src[params.offset + i];
    let g = src[params.offset + plane + i];
    let b = src[params.offset + 2u * plane + i];
    if (finite(r) && finite(g) && finite(b)) {
        dst[i] = vec4<f32>(r, g, b, 1.0);
    } else {
        dst[i] = vec4<f32>(0.0, 0.0, 0.0, 0.0);
    }
}
