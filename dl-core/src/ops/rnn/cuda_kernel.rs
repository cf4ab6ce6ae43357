//! `RnnKernel for Cuda`: the trait's host-copy default (no device kernel
//! yet; the step's buffers go through host memory on every call).

use super::RnnKernel;
use crate::cuda::Cuda;

impl RnnKernel for Cuda {}
