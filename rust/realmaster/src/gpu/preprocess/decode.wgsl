// Decode: the engine's colour plane (uploaded as u32 words, row pitch in words) -> linear RGBA f32
// at the engine's resolution. One thread per pixel. CPU reference: rust/realmaster/src/reference/decode.rs.
// (Depth, normals and motion of a CPU frame are resampled to model size on the CPU before they
// cross; the device path's import.wgsl reads a host's textures.)
//
// Entry point (bindings used):
//   decode_color (0, 1, 2): color plane in `params.color_format` -> linear RGBA (array<vec4<f32>>)

struct Params {
    width: u32,
    height: u32,
    // Distance between row starts, in u32 words.
    pitch_words: u32,
    // ColorFormat::shader_id: 0 RGBA8 sRGB, 1 BGRA8 sRGB, 2 RGBA16F, 3 RGBA32F.
    color_format: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        return c / 12.92;
    }
    return pow((c + 0.055) / 1.055, 2.4);
}

fn srgb4_to_linear(c: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(srgb_to_linear(c.x), srgb_to_linear(c.y), srgb_to_linear(c.z), c.w);
}

@compute @workgroup_size(8, 8, 1)
fn decode_color(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let row = gid.y * params.pitch_words;
    var c: vec4<f32>;
    switch params.color_format {
        case 0u: {
            // Bytes r, g, b, a in memory; little endian puts r in the low byte.
            c = srgb4_to_linear(unpack4x8unorm(src[row + gid.x]));
        }
        case 1u: {
            c = srgb4_to_linear(unpack4x8unorm(src[row + gid.x]).zyxw);
        }
        case 2u: {
            let i = row + gid.x * 2u;
            c = vec4<f32>(unpack2x16float(src[i]), unpack2x16float(src[i + 1u]));
        }
        default: {
            let i = row + gid.x * 4u;
            c = vec4<f32>(
                bitcast<f32>(src[i]),
                bitcast<f32>(src[i + 1u]),
                bitcast<f32>(src[i + 2u]),
                bitcast<f32>(src[i + 3u])
            );
        }
    }
    dst4[gid.y * params.width + gid.x] = c;
}
