//! `Conv1dKernel for Cuda` through [`Conv1dOnHost`]: host copies (no device
//! kernel yet; the data goes through host memory on every call).

use super::Conv1dOnHost;
use crate::cuda::Cuda;

impl Conv1dOnHost for Cuda {}
