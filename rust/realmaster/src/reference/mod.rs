//! The CPU implementation of every pass: what the CPU backend (`crate::cpu`) runs and what the
//! tests compare each GPU shader against. Multithreaded (rayon, row-parallel), writing into
//! caller-owned buffers (`*_into`); the allocating functions wrap those for tests.

pub mod blend;
pub(crate) mod byte_lut;
pub mod decode;
pub mod edges;
pub mod guided_upsample;
pub(crate) mod lanes;
pub mod pack;
pub mod reproject;
pub mod resample;
pub mod srgb;
pub mod temporal;
