// Pack: copy model-resolution images into the tensor arena, one NCHW f32 plane per channel
// (docs/formats.md "Tensor layouts"). The host dispatches once per source image with the element
// offset of its first plane. CPU reference: rust/realmaster/src/reference/pack.rs.
//
// Entry points (bindings used):
//   pack_rgb (0, 1, 2): xyz of a 4-channel image -> 3 planes at offset, offset + HW, offset + 2HW
//   pack_one (0, 1, 3): a 1-channel image -> 1 plane at offset

struct Params {
    width: u32,
    height: u32,
    // Offset of the first plane in the arena, in f32 elements.
    offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read_write> arena: array<f32>;
@group(0) @binding(2) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> src1: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn pack_rgb(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let p = gid.y * params.width + gid.x;
    let plane = params.width * params.height;
    let v = src4[p];
    arena[params.offset + p] = v.x;
    arena[params.offset + plane + p] = v.y;
    arena[params.offset + 2u * plane + p] = v.z;
}

@compute @workgroup_size(8, 8, 1)
fn pack_one(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let p = gid.y * params.width + gid.x;
    arena[params.offset + p] = src1[p];
}
