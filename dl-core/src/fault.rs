//! Device faults as typed errors.
//!
//! The [`crate::Storage`] and kernel traits are infallible (they are the
//! CPU's too), so a device failure inside them (out of GPU memory, a failed
//! kernel launch) unwinds with a message that starts with
//! [`DEVICE_FAULT_PREFIX`]. [`catch_device_fault`] turns exactly those
//! unwinds into [`Error::Backend`]; `fit`, `evaluate` and `predict` run
//! their steps under it, so a too-large batch on a GPU is an error that
//! names the allocation and the free memory, not an abort. Any other panic
//! (a bug) goes on unwinding.

use crate::error::{Error, Result};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// How the message of a device-fault panic starts; the device's name and
/// `": "` follow (`device fault: cuda:0: CUDA error in zeros: ...`).
pub const DEVICE_FAULT_PREFIX: &str = "device fault: ";

/// Runs `f`; a panic whose message starts with [`DEVICE_FAULT_PREFIX`]
/// becomes `Err(Error::Backend)` with that message, any other panic is
/// resumed. State that `f` changed before the fault stays changed (for a
/// training step: the model may hold a partial update, as after any
/// interrupted step); the device itself stays usable after an allocation
/// failure.
///
/// ```
/// use dl_core::fault::{catch_device_fault, DEVICE_FAULT_PREFIX};
/// let r: dl_core::Result<()> = catch_device_fault(|| panic!("{DEVICE_FAULT_PREFIX}out of GPU memory"));
/// assert!(r.unwrap_err().to_string().contains("out of GPU memory"));
/// assert_eq!(catch_device_fault(|| 7).unwrap(), 7);
/// ```
///
/// # Errors
/// [`Error::Backend`] for a device fault.
pub fn catch_device_fault<T>(f: impl FnOnce() -> T) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&'static str>().copied());
            match msg.and_then(|m| m.strip_prefix(DEVICE_FAULT_PREFIX)) {
                Some(m) => {
                    let (device, msg) = m.split_once(": ").unwrap_or(("device", m));
                    Err(Error::Backend {
                        device: device.to_string(),
                        msg: msg.to_string(),
                    })
                }
                None => resume_unwind(payload),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_faults_become_errors_and_bugs_keep_unwinding() {
        let e = catch_device_fault(|| -> () {
            panic!("{DEVICE_FAULT_PREFIX}cuda:0: CUDA error in zeros: out of GPU memory: an allocation of 1024 bytes failed")
        })
        .unwrap_err();
        assert!(
            matches!(&e, Error::Backend { device, msg } if device == "cuda:0" && msg.contains("1024 bytes")),
            "{e}"
        );
        let bug = catch_unwind(|| catch_device_fault(|| panic!("index out of bounds")));
        assert!(bug.is_err(), "other panics are not swallowed");
    }
}
