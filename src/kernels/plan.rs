//! Recorded kernel work that borrows the buffers it binds.

use std::marker::PhantomData;

use crate::gpu::{GpuBuffer, Launch, Record};

/// A sequence of launches ready to record, plus the scratch buffers it owns.
///
/// The lifetime ties a plan to the buffers it binds: a buffer returned to the pool while a
/// plan still bound it could be handed out again and overwritten, so the borrow checker
/// forbids dropping it first. Building a plan compiles (once) and binds; recording it
/// uploads and compiles nothing, so a plan can be replayed every step or iteration.
pub struct Plan<'a> {
    launches: Vec<Launch>,
    scratch: Vec<GpuBuffer<f32>>,
    _binds: PhantomData<&'a ()>,
}

impl<'a> Plan<'a> {
    pub(crate) fn new(launches: Vec<Launch>) -> Self {
        Plan {
            launches,
            scratch: Vec::new(),
            _binds: PhantomData,
        }
    }

    /// A plan that does nothing.
    pub fn empty() -> Self {
        Plan::new(Vec::new())
    }

    pub(crate) fn with_scratch(mut self, buffers: Vec<GpuBuffer<f32>>) -> Self {
        self.scratch.extend(buffers);
        self
    }

    /// This plan followed by `other`.
    pub fn then(mut self, other: Plan<'a>) -> Plan<'a> {
        self.launches.extend(other.launches);
        self.scratch.extend(other.scratch);
        self
    }

    /// Number of kernel launches recorded per replay.
    pub fn launch_count(&self) -> usize {
        self.launches.len()
    }
}

impl Record for Plan<'_> {
    fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.launches.record(pass);
    }
}
