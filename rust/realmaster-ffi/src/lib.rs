//! RealMaster Live for C++: the cxx bridge (src/bridge.rs) and the Rust side of every call.
//!
//! Built as a static library; C++ includes the generated `realmaster-ffi/src/bridge.rs.h` (or, better,
//! cpp-bridge/include/realmaster/realmaster.hpp). No call throws and no panic unwinds into C++.

mod bridge;
mod convert;
mod guard;
mod sequence_io;
mod vulkan;

use std::path::PathBuf;

use parking_lot::Mutex;

pub use bridge::ffi;
use bridge::ffi::{FrameDesc, Mode, OutputFrame, OwnedFrame, Settings, Stats, Status, StatusCode};
// The core session and its types (a short alias keeps the conversions readable).
use realmaster as rm;

use guard::{guarded, ok_status};
pub use sequence_io::{load_sequence_frame, sequence_info, write_output_png};
pub use vulkan::{create_vulkan_session, vulkan_required_device_extensions, VulkanSession};

/// The opaque session C++ holds in a `rust::Box`.
pub struct Session {
    /// `None` when creation failed; such a session answers every call with `not_created()`.
    inner: Option<rm::Session>,
    /// Why creation failed, or the last panic caught at the boundary: surfaced through `health()`.
    fault: Mutex<Option<Status>>,
    /// Reused conversion buffer for `latest_output` (the core writes into a Rust-side frame).
    scratch: Mutex<rm::OutputFrame>,
}

// Not wrapped in `guarded`: building the default config and converting it only moves and clones
// strings (nothing that can panic), so the core's defaults are the only copy of these values.
pub fn default_settings() -> Settings {
    convert::settings_from_config(&rm::SessionConfig::default())
}

fn create_session(settings: &Settings, status: &mut Status) -> Box<Session> {
    let made = guarded(|| {
        convert::config_from_settings(settings)
            .and_then(|c| rm::Session::new(c).map_err(Into::into))
    });
    let (inner, fault) = match made {
        Ok(s) => {
            *status = ok_status();
            (Some(s), None)
        }
        Err(e) => {
            *status = e.clone();
            (None, Some(e))
        }
    };
    Box::new(Session {
        inner,
        fault: Mutex::new(fault),
        scratch: Mutex::new(rm::OutputFrame::default()),
    })
}

fn not_created(fault: &Option<Status>) -> Status {
    let why = fault
        .as_ref()
        .map(|s| s.message.as_str())
        .unwrap_or("unknown reason");
    Status {
        code: StatusCode::Shutdown.repr,
        message: format!(
            "this session was never created: {why} (fix: create a new session with valid settings)"
        ),
    }
}

impl Session {
    /// Run `f` on the core session with panics caught; a caught panic is also remembered for `health()`.
    fn with<T>(&self, f: impl FnOnce(&rm::Session) -> Result<T, Status>) -> Result<T, Status> {
        let Some(inner) = &self.inner else {
            return Err(not_created(&self.fault.lock()));
        };
        let r = guarded(|| f(inner));
        if let Err(e) = &r {
            if e.code == StatusCode::Internal.repr {
                *self.fault.lock() = Some(e.clone());
            }
        }
        r
    }

    fn status_of(&self, f: impl FnOnce(&rm::Session) -> Result<(), Status>) -> Status {
        self.with(f).err().unwrap_or_else(ok_status)
    }

    fn submit(
        &self,
        desc: &FrameDesc,
        color: &[u8],
        depth: &[u8],
        normals: &[u8],
        motion: &[u8],
    ) -> Status {
        let st = self.status_of(|s| {
            let frame = convert::frame_ref(desc, color, depth, normals, motion)?;
            s.submit(&frame).map_err(Into::into)
        });
        // health() describes the latest frame: a fault caught on an earlier call no longer
        // applies once a frame goes through.
        if st.code == StatusCode::Ok.repr && self.inner.is_some() {
            *self.fault.lock() = None;
        }
        st
    }

    fn submit_owned(&self, frame: &mut OwnedFrame) -> Status {
        let st = self.status_of(|s| {
            let mut owned = convert::take_owned(frame)?;
            let r = s.submit_owned(&mut owned);
            // The recycled buffers go back to C++ whatever happened (on an error: its own).
            convert::give_back(owned, frame);
            r.map_err(Into::into)
        });
        if st.code == StatusCode::Ok.repr && self.inner.is_some() {
            *self.fault.lock() = None;
        }
        st
    }

    fn latest_output(&self, out: &mut OutputFrame) -> bool {
        self.with(|s| {
            let mut scratch = self.scratch.lock();
            if !s.latest_output(&mut scratch) {
                return Ok(false);
            }
            convert::move_output(&mut scratch, out)?;
            Ok(true)
        })
        .unwrap_or(false)
    }

    fn set_prompt(&self, text: &[u8]) -> Status {
        self.status_of(|s| {
            let text = std::str::from_utf8(text).map_err(|e| {
                guard::status(
                    StatusCode::Prompt,
                    format!("prompt: the text is not valid UTF-8 ({e}) (fix: pass UTF-8 text)"),
                )
            })?;
            s.set_prompt(text).map_err(Into::into)
        })
    }

    fn set_strength(&self, strength: f32) -> Status {
        self.status_of(|s| s.set_strength(strength).map_err(Into::into))
    }

    fn set_upsample_eps(&self, eps: f32) -> Status {
        self.status_of(|s| s.set_upsample_eps(eps).map_err(Into::into))
    }

    fn set_mode(&self, mode: Mode) -> Status {
        self.status_of(|s| {
            s.set_mode(convert::mode_from_ffi(mode)?);
            Ok(())
        })
    }

    fn reset_history(&self) -> Status {
        self.status_of(|s| {
            s.reset_history();
            Ok(())
        })
    }

    fn stats(&self) -> Stats {
        self.with(|s| Ok(convert::stats_to_ffi(&s.stats())))
            .unwrap_or_default()
    }

    fn health(&self) -> Status {
        if let Some(fault) = self.fault.lock().clone() {
            return if self.inner.is_some() {
                fault
            } else {
                not_created(&Some(fault))
            };
        }
        self.with(|s| Ok(convert::health_to_status(&s.health())))
            .unwrap_or_else(|e| e)
    }

    fn execution_provider(&self) -> String {
        self.with(|s| Ok(s.execution_provider()))
            .unwrap_or_else(|_| "none".into())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Dropping the core session joins its threads (an inference in flight finishes first). A
        // panic there must not unwind into the C++ destructor that called us.
        if let Some(inner) = self.inner.take() {
            if guarded(move || {
                drop(inner);
                Ok(())
            })
            .is_err()
            {
                log::error!("RealMaster: a panic occurred while shutting a session down");
            }
        }
    }
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Paths from C++ strings: empty = not set.
fn opt_path(s: &str) -> Option<PathBuf> {
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// A path passed from C++ as UTF-8 bytes.
fn utf8_path(bytes: &[u8]) -> Result<&str, Status> {
    std::str::from_utf8(bytes).map_err(|e| {
        guard::status(
            StatusCode::Io,
            format!("the path is not valid UTF-8 ({e}) (fix: pass paths as UTF-8)"),
        )
    })
}
