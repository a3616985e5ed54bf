//! Compute pipelines compiled once per device, bind groups, and recorded launches.

use super::context::Gpu;
use super::dispatch::grid;
use super::error::GpuResult;

/// A WGSL source file (already composed with the shared prelude) and its name.
#[derive(Debug, Clone, Copy)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

/// One recorded kernel launch: pipeline, bindings and grid, ready to be replayed.
///
/// Launches are built once (per model, per request) and recorded into as many
/// command buffers as needed: nothing is uploaded or compiled when they are recorded.
#[derive(Debug, Clone)]
pub struct Launch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
    /// The device's counters: each recording is one dispatch.
    counters: std::sync::Arc<super::counters::Counters>,
}

impl Launch {
    /// Appends this launch to a compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        if self.grid[0] == 0 {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.grid[0], self.grid[1], self.grid[2]);
        self.counters.dispatch();
    }
}

/// Records a sequence of launches in order.
pub fn record_all(launches: &[Launch], pass: &mut wgpu::ComputePass<'_>) {
    for launch in launches {
        launch.record(pass);
    }
}

/// Anything that can be appended to a compute pass.
pub trait Record {
    fn record(&self, pass: &mut wgpu::ComputePass<'_>);
}

impl Record for Launch {
    fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        Launch::record(self, pass)
    }
}

impl Record for [Launch] {
    fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        record_all(self, pass)
    }
}

impl Record for Vec<Launch> {
    fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        record_all(self, pass)
    }
}

impl Gpu {
    /// The pipeline of `entry` in `shader`, compiled on first use and cached.
    pub fn pipeline(
        &self,
        shader: &Shader,
        entry: &'static str,
    ) -> GpuResult<wgpu::ComputePipeline> {
        let key = (shader.name, entry);
        if let Some(p) = self
            .pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        let context = format!("compiling {}::{entry}", shader.name);
        let pipeline = self.checked(&context, || {
            let module = self
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(shader.name),
                    source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                });
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        })?;
        self.pipelines_compiled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// A launch of `entry` with `(binding number, resource)` pairs at group 0, over
    /// `workgroups` workgroups spread across the grid.
    pub fn launch(
        &self,
        shader: &Shader,
        entry: &'static str,
        bindings: &[(u32, wgpu::BindingResource<'_>)],
        workgroups: u32,
    ) -> GpuResult<Launch> {
        let pipeline = self.pipeline(shader, entry)?;
        let grid = grid(workgroups, self.max_workgroups_per_dim())?;
        let entries: Vec<wgpu::BindGroupEntry<'_>> = bindings
            .iter()
            .map(|(binding, resource)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: resource.clone(),
            })
            .collect();
        let bind_group = self.checked(&format!("binding {}::{entry}", shader.name), || {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(entry),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
        })?;
        Ok(Launch {
            pipeline,
            bind_group,
            grid,
            counters: self.pool().counters.clone(),
        })
    }
}
