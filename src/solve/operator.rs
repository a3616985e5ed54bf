//! A symmetric linear operator on device vectors, as the solver sees the damped Hessian.

use crate::gpu::{Gpu, GpuBuffer, GpuResult};
use crate::kernels::Plan;

/// `y = A x` for vectors of [`LinearOperator::len`] f32 values on the device.
///
/// [`LinearOperator::apply`] is called once per pair of buffers and returns a plan the solver
/// replays every iteration, so an application is pure command-buffer work.
pub trait LinearOperator {
    /// Length of the vectors the operator maps.
    fn len(&self) -> usize;

    /// True for an operator on empty vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `y = A x`.
    fn apply<'a>(
        &'a self,
        gpu: &Gpu,
        x: &'a GpuBuffer<f32>,
        y: &'a GpuBuffer<f32>,
    ) -> GpuResult<Plan<'a>>;
}
