//! `Conv1dKernel for Cuda`: the trait's host-copy default (no device
//! kernel yet; the data goes through host memory on every call).

use super::Conv1dKernel;
use crate::cuda::Cuda;

impl Conv1dKernel for Cuda {}
