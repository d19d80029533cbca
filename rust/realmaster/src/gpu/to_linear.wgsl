// Model colour space -> linear RGB, 4-channel image to 4-channel image. mode 0: sRGB-encoded input
// (clamped to 0..1 first, as the model's range is 0..1), mode 1: already linear (copy).

struct Params {
    width: u32,
    height: u32,
    mode: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn srgb_to_linear(c: f32) -> f32 {
    if (c <= 0.04045) {
        return c / 12.92;
    }
    return pow((c + 0.055) / 1.055, 2.4);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.width || id.y >= params.height) {
        return;
    }
    let i = id.y * params.width + id.x;
    let v = src[i];
    if (params.mode == 0u) {
        let c = clamp(v.rgb, vec3<f32>(0.0), vec3<f32>(1.0));
        dst[i] = vec4<f32>(srgb_to_linear(c.r), srgb_to_linear(c.g), srgb_to_linear(c.b), v.a);
    } else {
        dst[i] = v;
    }
}
