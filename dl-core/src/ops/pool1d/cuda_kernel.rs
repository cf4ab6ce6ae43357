//! `Pool1dKernel for Cuda` through [`Pool1dOnHost`]: host copies (no device
//! kernel yet; the data goes through host memory on every call).

use super::Pool1dOnHost;
use crate::cuda::Cuda;

impl Pool1dOnHost for Cuda {}
