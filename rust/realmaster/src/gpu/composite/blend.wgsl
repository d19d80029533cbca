// Blend + encode: final = input + s residual for rgb (s = strength in [0, 1], residual = the
// temporally accumulated model residual; s = 0 gives the input bit for bit, s = 1 input + residual),
// alpha from the input; then encode to the engine's colour format into tightly packed rows of u32
// words for readback:
//   0 RGBA8 sRGB, 1 BGRA8 sRGB: 1 word/pixel, sRGB-encoded rgb, linear alpha, unorm rounding
//   2 RGBA16F: 2 words/pixel (pack2x16float, clamped to the finite f16 range)
//   3 RGBA32F: 4 words/pixel (raw f32 bits)
// CPU reference: rust/realmaster/src/reference/blend.rs.

struct Params {
    width: u32,
    height: u32,
    // ColorFormat::shader_id.
    format: u32,
    _pad0: u32,
    strength: f32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> residual: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out_words: array<u32>;

fn linear_to_srgb(c: f32) -> f32 {
    let v = max(c, 0.0);
    if v <= 0.0031308 {
        return v * 12.92;
    }
    return 1.055 * pow(v, 1.0 / 2.4) - 0.055;
}

fn srgb4(c: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(linear_to_srgb(c.x), linear_to_srgb(c.y), linear_to_srgb(c.z), c.w);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let i = gid.y * params.width + gid.x;
    let src = input[i];
    let s = params.strength;
    var rgb = src.xyz;
    // s = 0 is selected, not computed, so the input comes back exactly whatever the residual holds;
    // s = 1 skips the multiply so it is exactly input + residual.
    if s >= 1.0 {
        rgb = src.xyz + residual[i].xyz;
    } else if s > 0.0 {
        rgb = src.xyz + residual[i].xyz * s;
    }
    let c = vec4<f32>(rgb, src.w);
    switch params.format {
        case 0u: {
            out_words[i] = pack4x8unorm(srgb4(c));
        }
        case 1u: {
            out_words[i] = pack4x8unorm(srgb4(c).zyxw);
        }
        case 2u: {
            let h = clamp(c, vec4<f32>(-65504.0), vec4<f32>(65504.0));
            out_words[i * 2u] = pack2x16float(h.xy);
            out_words[i * 2u + 1u] = pack2x16float(h.zw);
        }
        default: {
            let j = i * 4u;
            out_words[j] = bitcast<u32>(c.x);
            out_words[j + 1u] = bitcast<u32>(c.y);
            out_words[j + 2u] = bitcast<u32>(c.z);
            out_words[j + 3u] = bitcast<u32>(c.w);
        }
    }
}
