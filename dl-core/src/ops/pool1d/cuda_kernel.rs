//! `Pool1dKernel for Cuda`: the trait's host-copy default (no device
//! kernel yet; the data goes through host memory on every call).

use super::Pool1dKernel;
use crate::cuda::Cuda;

impl Pool1dKernel for Cuda {}
