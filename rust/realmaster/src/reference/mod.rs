//! CPU reference implementations of the GPU passes; tests compare each shader against these.

pub mod blend;
pub mod guided_upsample;
pub mod reproject;
pub mod temporal;
pub mod decode;
pub mod edges;
pub mod pack;
pub mod resample;
