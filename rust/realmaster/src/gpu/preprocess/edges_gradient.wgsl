// Edges, pass 1 of 3: edge strength and direction at model resolution.
// Three cues, each a gradient vector plus a strength normalised so that 1.0 is a clear edge:
//   colour:  Sobel of perceptual luminance L = sRGB(Rec.709 luma of the linear colour), strength |grad L|
//   depth:   Sobel of ln(z): the relative depth change, strength |grad ln z| / depth_relative
//   normals: structure tensor of the normal field; its largest eigenvalue / 2 equals 1 - dot(n1, n2)
//            across a crease; strength (1 - dot) / normal_crease
// The output is the largest strength and its direction quantised to 4 bins (see dir_bin).
// Sobel responses are divided by 4 so a unit step gives 1. Borders clamp to the edge.
// CPU reference: rust/realmaster/src/reference/edges.rs.

struct Params {
    width: u32,
    height: u32,
    has_depth: u32,
    has_normals: u32,
    depth_relative: f32,
    normal_crease: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> color: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> depth_z: array<f32>;
@group(0) @binding(3) var<storage, read> normals: array<vec4<f32>>;
// x = strength, y = direction bin (0..3) as a float.
@group(0) @binding(4) var<storage, read_write> grad: array<vec2<f32>>;

fn linear_to_srgb(c: f32) -> f32 {
    if c <= 0.0031308 {
        return c * 12.92;
    }
    return 1.055 * pow(c, 1.0 / 2.4) - 0.055;
}

fn idx(x: i32, y: i32) -> u32 {
    let cx = clamp(x, 0, i32(params.width) - 1);
    let cy = clamp(y, 0, i32(params.height) - 1);
    return u32(cy) * params.width + u32(cx);
}

fn luma(i: u32) -> f32 {
    let c = color[i].xyz;
    return linear_to_srgb(clamp(0.2126 * c.x + 0.7152 * c.y + 0.0722 * c.z, 0.0, 1.0));
}

fn log_depth(i: u32) -> f32 {
    return log(max(depth_z[i], 1e-6));
}

// s[(dy + 1) * 3 + (dx + 1)] holds the sample at offset (dx, dy).
fn sobel(s: array<f32, 9>) -> vec2<f32> {
    let gx = (s[2] + 2.0 * s[5] + s[8]) - (s[0] + 2.0 * s[3] + s[6]);
    let gy = (s[6] + 2.0 * s[7] + s[8]) - (s[0] + 2.0 * s[1] + s[2]);
    return vec2<f32>(gx, gy) * 0.25;
}

// 0: compare left/right, 1: up/down, 2: (+1,+1)/(-1,-1), 3: (+1,-1)/(-1,+1). tan(22.5 deg) splits.
fn dir_bin(g: vec2<f32>) -> u32 {
    let ax = abs(g.x);
    let ay = abs(g.y);
    let t = 0.41421357;
    if ay <= ax * t {
        return 0u;
    }
    if ax <= ay * t {
        return 1u;
    }
    if (g.x > 0.0) == (g.y > 0.0) {
        return 2u;
    }
    return 3u;
}

@compute @workgroup_size(8, 8, 1)
fn edges_gradient(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.width || gid.y >= params.height {
        return;
    }
    let x = i32(gid.x);
    let y = i32(gid.y);
    var l: array<f32, 9>;
    var d: array<f32, 9>;
    var nx: array<f32, 9>;
    var ny: array<f32, 9>;
    var nz: array<f32, 9>;
    for (var k = 0; k < 9; k++) {
        let j = idx(x + k % 3 - 1, y + k / 3 - 1);
        l[k] = luma(j);
        if params.has_depth != 0u {
            d[k] = log_depth(j);
        }
        if params.has_normals != 0u {
            let n = normals[j].xyz;
            nx[k] = n.x;
            ny[k] = n.y;
            nz[k] = n.z;
        }
    }

    var g = sobel(l);
    var m = length(g);
    if params.has_depth != 0u {
        let gd = sobel(d);
        let md = length(gd) / params.depth_relative;
        if md > m {
            m = md;
            g = gd;
        }
    }
    if params.has_normals != 0u {
        let a = sobel(nx);
        let b = sobel(ny);
        let c = sobel(nz);
        let jxx = a.x * a.x + b.x * b.x + c.x * c.x;
        let jyy = a.y * a.y + b.y * b.y + c.y * c.y;
        let jxy = a.x * a.y + b.x * b.y + c.x * c.y;
        let half_diff = 0.5 * (jxx - jyy);
        let lambda = 0.5 * (jxx + jyy) + sqrt(half_diff * half_diff + jxy * jxy);
        let mn = 0.5 * lambda / params.normal_crease;
        if mn > m {
            m = mn;
            // Eigenvector of the largest eigenvalue; take the better conditioned of the two forms.
            let v1 = vec2<f32>(jxy, lambda - jxx);
            let v2 = vec2<f32>(lambda - jyy, jxy);
            g = select(v2, v1, dot(v1, v1) > dot(v2, v2));
        }
    }
    grad[gid.y * params.width + gid.x] = vec2<f32>(m, f32(dir_bin(g)));
}
