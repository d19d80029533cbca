//! Table lookups of 8-bit values, 64 at a time, where the CPU has AVX-512 VBMI: a 256-entry f32
//! table kept as its four byte planes, each looked up with two 128-byte permutes (`vpermi2b`)
//! and a select on the index's top bit, then the planes interleaved back into floats. Exact (the
//! table's own bits), in about a fifth of the instructions of scalar loads: the area resample of
//! 8-bit colour uses it, and the compositor's fused 8-bit loop for its guide colours and, with the
//! encoder's thresholds, in place of its table gathers (`blend::vbmi`). (Its guide colours alone
//! by byte permutes measured no faster: the gathers of the encoder were what it waited on.)

use std::sync::OnceLock;

/// A 256-entry f32 table as byte planes: `planes[k][b]` is byte `k` (little-endian) of entry `b`.
pub(crate) struct ByteLut {
    planes: [[u8; 256]; 4],
}

impl ByteLut {
    pub(crate) fn new(table: &[f32; 256]) -> Self {
        let mut planes = [[0u8; 256]; 4];
        for (b, v) in table.iter().enumerate() {
            for (k, byte) in v.to_bits().to_le_bytes().into_iter().enumerate() {
                planes[k][b] = byte;
            }
        }
        ByteLut { planes }
    }
}

/// Whether the CPU has AVX-512 F, BW, VL and VBMI (checked once; the fused 8-bit apply uses VL).
pub(crate) fn use_vbmi() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static VBMI: OnceLock<bool> = OnceLock::new();
        *VBMI.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vbmi")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod vbmi {
    use std::arch::x86_64::*;

    use super::ByteLut;

    /// A [`ByteLut`] in registers (16 of 64 bytes).
    #[derive(Clone, Copy)]
    pub(crate) struct Loaded([__m512i; 16]);

    /// # Safety
    /// AVX-512 F, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    pub(crate) unsafe fn load(lut: &ByteLut) -> Loaded {
        let mut r = [_mm512_setzero_si512(); 16];
        for (i, reg) in r.iter_mut().enumerate() {
            *reg = _mm512_loadu_si512(lut.planes[i / 4].as_ptr().add(64 * (i % 4)) as *const _);
        }
        Loaded(r)
    }

    /// The entries of `N` registers of 64 indices (bytes), in order (4 registers of 16 floats
    /// each), straight from the table in memory: each byte plane's four registers loaded once for
    /// all `N` (a loop that keeps several tables "loaded" spills them, and reloads each whole
    /// table per lookup).
    ///
    /// # Safety
    /// AVX-512 F, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    pub(crate) unsafe fn lookup_n<const N: usize>(
        lut: &ByteLut,
        idx: [__m512i; N],
    ) -> [[__m512; 4]; N] {
        let mut dealt = idx;
        for n in 0..N {
            dealt[n] = deal(idx[n]);
        }
        lookup_dealt(lut, dealt)
    }

    /// 64 indices in order rearranged so that [`words`] of their entries comes out in order:
    /// index `16 j + 4 L + i` moved to byte `16 L + 4 j + i` (a transpose of the register's 4x4
    /// grid of 32-bit words). One permute per register instead of the four registers' 128-bit
    /// transpose (eight shuffles) after each lookup: perf had those shuffles at 13 % of the fused
    /// 8-bit apply.
    ///
    /// # Safety
    /// AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn deal(idx: __m512i) -> __m512i {
        let grid = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        _mm512_permutexvar_epi32(grid, idx)
    }

    /// [`lookup_n`] of indices already [`deal`]t (a caller that looks up several tables at the
    /// same indices deals them once).
    ///
    /// # Safety
    /// AVX-512 F, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    pub(crate) unsafe fn lookup_dealt<const N: usize>(
        lut: &ByteLut,
        idx: [__m512i; N],
    ) -> [[__m512; 4]; N] {
        // Loops, not closures or array maps: those are not inlined into target-feature code.
        let mut top = [0u64; N];
        for n in 0..N {
            top[n] = _mm512_movepi8_mask(idx[n]);
        }
        let mut planes = [[_mm512_setzero_si512(); 4]; N];
        for (k, table) in lut.planes.iter().enumerate() {
            let at = |j: usize| table.as_ptr().add(64 * j) as *const __m512i;
            let (t0, t1) = (_mm512_loadu_si512(at(0)), _mm512_loadu_si512(at(1)));
            let (t2, t3) = (_mm512_loadu_si512(at(2)), _mm512_loadu_si512(at(3)));
            for n in 0..N {
                let lo = _mm512_permutex2var_epi8(t0, idx[n], t1);
                let hi = _mm512_permutex2var_epi8(t2, idx[n], t3);
                planes[n][k] = _mm512_mask_blend_epi8(top[n], lo, hi);
            }
        }
        // Dealt indices: `words` gives the entries in order.
        let mut out = [[_mm512_setzero_ps(); 4]; N];
        for n in 0..N {
            out[n] = words(planes[n]);
        }
        out
    }

    /// Byte planes `p` as 32-bit words in lane order: register `j` holds, in its 128-bit lane
    /// `L`, entries `16 L + 4 j .. 16 L + 4 j + 4` (for 16 RGBA pixels: pixel `4 L + j`). Planes
    /// [`deal`]t first come out in order (register `j`: entries `16 j .. 16 j + 16`).
    ///
    /// # Safety
    /// AVX-512 F and BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    pub(crate) unsafe fn words([p0, p1, p2, p3]: [__m512i; 4]) -> [__m512; 4] {
        let (a, b) = (_mm512_unpacklo_epi8(p0, p1), _mm512_unpackhi_epi8(p0, p1));
        let (c, d) = (_mm512_unpacklo_epi8(p2, p3), _mm512_unpackhi_epi8(p2, p3));
        [
            _mm512_castsi512_ps(_mm512_unpacklo_epi16(a, c)),
            _mm512_castsi512_ps(_mm512_unpackhi_epi16(a, c)),
            _mm512_castsi512_ps(_mm512_unpacklo_epi16(b, d)),
            _mm512_castsi512_ps(_mm512_unpackhi_epi16(b, d)),
        ]
    }

    /// The entries of the 64 indices in `idx` (bytes) in lane order (see [`words`]), from a
    /// table in registers: without the 128-bit transpose that puts them in order, for sums that can take it once at the end ([`transpose_lanes`]).
    ///
    /// # Safety
    /// AVX-512 F, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    pub(crate) unsafe fn lookup_lanes(lut: &Loaded, idx: __m512i) -> [__m512; 4] {
        let top = _mm512_movepi8_mask(idx);
        let plane = |k: usize| {
            let t = &lut.0[4 * k..4 * k + 4];
            let lo = _mm512_permutex2var_epi8(t[0], idx, t[1]);
            let hi = _mm512_permutex2var_epi8(t[2], idx, t[3]);
            _mm512_mask_blend_epi8(top, lo, hi)
        };
        words([plane(0), plane(1), plane(2), plane(3)])
    }

    /// A 4x4 transpose of 128-bit lanes: lane `m` of register `j` to lane `j` of register `m`
    /// (lane order to entry order).
    ///
    /// # Safety
    /// AVX-512 F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn transpose_lanes(e: [__m512; 4]) -> [__m512; 4] {
        let e = [
            _mm512_castps_si512(e[0]),
            _mm512_castps_si512(e[1]),
            _mm512_castps_si512(e[2]),
            _mm512_castps_si512(e[3]),
        ];
        let t0 = _mm512_shuffle_i32x4::<0x44>(e[0], e[1]);
        let t1 = _mm512_shuffle_i32x4::<0x44>(e[2], e[3]);
        let t2 = _mm512_shuffle_i32x4::<0xEE>(e[0], e[1]);
        let t3 = _mm512_shuffle_i32x4::<0xEE>(e[2], e[3]);
        [
            _mm512_castsi512_ps(_mm512_shuffle_i32x4::<0x88>(t0, t1)),
            _mm512_castsi512_ps(_mm512_shuffle_i32x4::<0xDD>(t0, t1)),
            _mm512_castsi512_ps(_mm512_shuffle_i32x4::<0x88>(t2, t3)),
            _mm512_castsi512_ps(_mm512_shuffle_i32x4::<0xDD>(t2, t3)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_give_the_table_entries_in_order() {
        if !use_vbmi() {
            eprintln!("no AVX-512 VBMI here: nothing to compare");
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            let table: [f32; 256] = std::array::from_fn(|b| (b as f32 * 0.37).sin() * 1e3);
            let lut = ByteLut::new(&table);
            for start in [0usize, 64, 128, 192, 7] {
                let idx: [u8; 64] = std::array::from_fn(|i| ((start + i * 5) % 256) as u8);
                let mut got = [0f32; 64];
                // SAFETY: `use_vbmi` found the features.
                unsafe {
                    let loaded = vbmi::load(&lut);
                    let r = vbmi::transpose_lanes(vbmi::lookup_lanes(
                        &loaded,
                        _mm512_loadu_si512(idx.as_ptr() as *const _),
                    ));
                    for (m, v) in r.into_iter().enumerate() {
                        _mm512_storeu_ps(got.as_mut_ptr().add(16 * m), v);
                    }
                }
                for (i, &b) in idx.iter().enumerate() {
                    assert_eq!(got[i].to_bits(), table[b as usize].to_bits(), "index {i}");
                }
            }
            // Three index registers at once, straight from the table in memory.
            let idx: [[u8; 64]; 3] =
                std::array::from_fn(|n| std::array::from_fn(|i| ((n * 91 + i * 7) % 256) as u8));
            let mut got = [[0f32; 64]; 3];
            // SAFETY: `use_vbmi` found the features.
            unsafe {
                let regs = idx.map(|i| _mm512_loadu_si512(i.as_ptr() as *const _));
                for (n, r) in vbmi::lookup_n(&lut, regs).into_iter().enumerate() {
                    for (m, v) in r.into_iter().enumerate() {
                        _mm512_storeu_ps(got[n].as_mut_ptr().add(16 * m), v);
                    }
                }
            }
            for n in 0..3 {
                for (i, &b) in idx[n].iter().enumerate() {
                    assert_eq!(got[n][i].to_bits(), table[b as usize].to_bits(), "{n}: {i}");
                }
            }
        }
    }
}
