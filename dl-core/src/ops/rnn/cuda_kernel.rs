//! `RnnKernel for Cuda` through [`RnnOnHost`]: host copies (no device kernel
//! yet; the step's buffers go through host memory on every call).

use super::RnnOnHost;
use crate::cuda::Cuda;

impl RnnOnHost for Cuda {}
