//! CPU reference implementations of the GPU passes; tests compare each shader against these.

pub mod blend;
pub mod decode;
pub mod edges;
pub mod guided_upsample;
pub mod pack;
pub mod reproject;
pub mod resample;
pub mod temporal;
