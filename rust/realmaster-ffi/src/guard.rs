//! The boundary rules: no panic unwinds into C++, every error becomes a `Status`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::ffi::{Status, StatusCode};

pub fn ok_status() -> Status {
    Status {
        code: StatusCode::Ok.repr,
        message: String::new(),
    }
}

pub fn status(code: StatusCode, message: impl Into<String>) -> Status {
    Status {
        code: code.repr,
        message: message.into(),
    }
}

impl From<realmaster::Error> for Status {
    fn from(e: realmaster::Error) -> Status {
        Status {
            code: e.code() as u32,
            message: e.to_string(),
        }
    }
}

/// Run `f`; a panic becomes `StatusCode::Internal` with the panic message.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, Status>) -> Result<T, Status> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            log::error!("RealMaster: panic caught at the C++ boundary: {what}");
            Err(status(
                StatusCode::Internal,
                format!("internal error: a panic was caught at the C++ boundary: {what} (please report this with the log)"),
            ))
        }
    }
}

/// `guarded` for calls whose only failure is a panic: the status reports it.
pub fn guarded_status(f: impl FnOnce() -> Result<(), Status>) -> Status {
    guarded(f).err().unwrap_or_else(ok_status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_internal_status() {
        let r: Result<(), Status> = guarded(|| panic!("boom {}", 7));
        let e = r.unwrap_err();
        assert_eq!(e.code, StatusCode::Internal.repr);
        assert!(e.message.contains("boom 7"), "{}", e.message);
    }

    #[test]
    fn core_error_keeps_code_and_message() {
        let s: Status = realmaster::Error::config("bad thing", "do the fix").into();
        assert_eq!(s.code, realmaster::ErrorCode::Config as u32);
        assert!(s.message.contains("bad thing") && s.message.contains("do the fix"));
    }
}
