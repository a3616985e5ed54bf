//! The device, its queue, and the runtime services every kernel uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytemuck::Pod;
use serde::Serialize;

use super::adapter::{self, AdapterSummary};
use super::buffer::{BufferPool, GpuBuffer, STORAGE_USAGE, UNIFORM_USAGE, byte_len};
use super::error::{GpuError, GpuResult};
use super::fault::{Fault, FaultInjector};
use super::later::{LaterRead, Pending};

/// How to open a device. [`GpuOptions::from_env`] (in [`crate::environment`]) reads the
/// `IFRU_*` variables.
#[derive(Debug, Clone)]
pub struct GpuOptions {
    /// Case-insensitive substring of the adapter name to use (`IFRU_ADAPTER`).
    pub adapter_filter: Option<String>,
    /// Lowers the storage binding cap below the device's (`IFRU_BINDING_CAP`).
    pub binding_cap: Option<u64>,
    /// Lowers the workgroups per grid dimension below the device's, to test 2-D dispatch cheaply.
    pub max_workgroups_per_dim: Option<u32>,
    /// Longest wait for the device before it is reported as hung.
    pub wait_timeout: Duration,
    /// Row-dot kernels (pair scores, HVP coefficients): one thread per row instead of the
    /// row's vec4 lanes spread over threads. `None`: one thread per row on software
    /// adapters, where workgroup barriers cost more than the lost parallelism.
    pub thread_per_row: Option<bool>,
    /// Block-Jacobi's blocks built and inverted on the host (f64) rather than on the
    /// device. `None`: on the host for software adapters, where the device is this CPU and
    /// the host's own loops beat the kernels 15–20× (docs/ARCHITECTURE.md, "The solve"); on
    /// the device everywhere else.
    pub host_block_jacobi: Option<bool>,
    /// A fault armed when the device opens, after that many matching operations
    /// (`IFRU_FAULT_GPU`; for tests of the command line).
    #[cfg(feature = "testing")]
    pub fault: Option<(Fault, u64)>,
    /// Request `SHADER_F16` when the adapter has it (native f16 tables); `false` makes f16
    /// tables use packed pairs of halves (`IFRU_NO_SHADER_F16=1`).
    pub shader_f16: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            adapter_filter: None,
            binding_cap: None,
            max_workgroups_per_dim: None,
            wait_timeout: Duration::from_secs(600),
            thread_per_row: None,
            host_block_jacobi: None,
            #[cfg(feature = "testing")]
            fault: None,
            shader_f16: true,
        }
    }
}

/// Optional device features the kernels can use, as granted by the adapter.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GrantedFeatures {
    pub timestamp_query: bool,
    pub shader_f16: bool,
    pub subgroup: bool,
}

impl GrantedFeatures {
    fn of(features: wgpu::Features) -> Self {
        GrantedFeatures {
            timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroup: features.contains(wgpu::Features::SUBGROUP),
        }
    }
}

/// The limits that matter to ifru's kernels.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KeyLimits {
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    /// The cap actually used for one binding (device limit, possibly lowered by configuration).
    pub binding_cap: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub min_storage_buffer_offset_alignment: u32,
}

/// An open device with its queue, buffer pool, pipeline cache and failure injection.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: GrantedFeatures,
    binding_cap: u64,
    max_workgroups_per_dim: u32,
    wait_timeout: Duration,
    thread_per_row: bool,
    host_block_jacobi: bool,
    pool: BufferPool,
    pub(crate) pipelines: Mutex<HashMap<(&'static str, &'static str), wgpu::ComputePipeline>>,
    pub(crate) pipelines_compiled: std::sync::atomic::AtomicU64,
    faults: FaultInjector,
    /// Whether a fault was armed from the options (`IFRU_FAULT_GPU`).
    fault_from_options: bool,
    placeholder: GpuBuffer<f32>,
    uncaptured: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    /// Copies waiting to ride along with the next read-back ([`Gpu::read_later`]).
    later: Mutex<Vec<Pending>>,
}

impl Gpu {
    /// Opens a device with options from the environment.
    pub fn from_env() -> GpuResult<Gpu> {
        Gpu::new(GpuOptions::from_env()?)
    }

    /// Opens the best adapter (or the one named by `options.adapter_filter`) with its own limits.
    pub fn new(options: GpuOptions) -> GpuResult<Gpu> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
        let backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
        let index = adapter::choose_adapter(&infos, options.adapter_filter.as_deref())
            .map_err(GpuError::NoAdapter)?;
        let adapter = &adapters[index];
        let info = infos[index].clone();

        let mut wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
        if options.shader_f16 {
            wanted |= wgpu::Features::SHADER_F16;
        }
        let required_features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ifru"),
            required_features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|source| GpuError::RequestDevice {
            adapter: info.name.clone(),
            source,
        })?;

        // The default handler panics; keep what escapes error scopes and report it at the next check.
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.to_string());
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *lost_sink.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("{reason:?}: {message}"));
        });

        let align = limits.min_storage_buffer_offset_alignment.max(4) as u64;
        let device_cap = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let binding_cap = options
            .binding_cap
            .map_or(device_cap, |c| c.min(device_cap));
        let binding_cap = (binding_cap / align) * align;
        if binding_cap == 0 {
            return Err(GpuError::Invalid(format!(
                "binding cap {:?} is below the offset alignment {align}",
                options.binding_cap
            )));
        }
        let max_workgroups_per_dim = options
            .max_workgroups_per_dim
            .map_or(limits.max_compute_workgroups_per_dimension, |m| {
                m.min(limits.max_compute_workgroups_per_dimension)
            });
        let pool = BufferPool::default();
        let placeholder = GpuBuffer::from_pool(&pool, &device, 64, STORAGE_USAGE, "placeholder");
        let faults = FaultInjector::default();
        #[cfg(feature = "testing")]
        if let Some((fault, skip)) = options.fault {
            faults.arm(fault, skip);
        }
        #[cfg(feature = "testing")]
        let fault_from_options = options.fault.is_some();
        #[cfg(not(feature = "testing"))]
        let fault_from_options = false;
        Ok(Gpu {
            later: Mutex::new(Vec::new()),
            placeholder,
            device,
            queue,
            features: GrantedFeatures::of(required_features),
            limits,
            binding_cap,
            max_workgroups_per_dim,
            wait_timeout: options.wait_timeout,
            thread_per_row: options
                .thread_per_row
                .unwrap_or(info.device_type == wgpu::DeviceType::Cpu),
            host_block_jacobi: options
                .host_block_jacobi
                .unwrap_or(info.device_type == wgpu::DeviceType::Cpu),
            info,
            pool,
            pipelines: Mutex::new(HashMap::new()),
            pipelines_compiled: Default::default(),
            faults,
            fault_from_options,
            uncaptured,
            lost,
        })
    }

    /// Name, backend, type and driver of the adapter.
    pub fn adapter(&self) -> AdapterSummary {
        AdapterSummary::from(&self.info)
    }

    /// Threads that share one row in row-dot kernels, for rows of `lanes_p2` padded lanes:
    /// all of them (reduced in workgroup memory) on GPUs, one on software adapters.
    pub fn threads_per_row(&self, lanes_p2: u32) -> u32 {
        if self.thread_per_row { 1 } else { lanes_p2 }
    }

    /// Whether block-Jacobi is built and inverted on the host ([`GpuOptions::host_block_jacobi`]).
    pub fn host_block_jacobi(&self) -> bool {
        self.host_block_jacobi
    }

    /// True when the adapter is a software rasteriser (lavapipe, WARP).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Optional features granted on this device.
    pub fn features(&self) -> GrantedFeatures {
        self.features
    }

    /// The limits the kernels depend on.
    pub fn key_limits(&self) -> KeyLimits {
        let l = &self.limits;
        KeyLimits {
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            binding_cap: self.binding_cap,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroups_per_dimension: self.max_workgroups_per_dim,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            min_storage_buffer_offset_alignment: l.min_storage_buffer_offset_alignment,
        }
    }

    /// Largest byte size of one storage binding.
    pub fn binding_cap(&self) -> u64 {
        self.binding_cap
    }

    /// Required alignment of a binding's byte offset.
    pub fn offset_alignment(&self) -> u64 {
        self.limits.min_storage_buffer_offset_alignment.max(4) as u64
    }

    /// Workgroups per grid dimension used by [`crate::gpu::grid`].
    pub fn max_workgroups_per_dim(&self) -> u32 {
        self.max_workgroups_per_dim
    }

    /// The wgpu device, for code that records its own passes.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The buffer pool (byte counts, trimming).
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// The device operations run so far (dispatches, submissions, synchronous read-backs,
    /// bytes up and down); the difference of two readings is what happened between them.
    pub fn counts(&self) -> super::counters::DeviceCounts {
        self.pool.counters.snapshot()
    }

    /// Number of compute pipelines compiled on this device so far.
    pub fn pipelines_compiled(&self) -> u64 {
        self.pipelines_compiled
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Arms a fault that makes the next matching operation fail (tests only).
    #[cfg(feature = "testing")]
    pub fn inject_fault(&self, fault: Fault) {
        self.faults.arm(fault, 0);
    }

    /// Arms a fault that fires at the matching operation after `skip` of them pass (tests
    /// only): a countdown that breaks a long operation in its middle.
    #[cfg(feature = "testing")]
    pub fn inject_fault_after(&self, fault: Fault, skip: u64) {
        self.faults.arm(fault, skip);
    }

    /// Drops the armed faults that have not fired (tests only).
    #[cfg(feature = "testing")]
    pub fn disarm_faults(&self) {
        self.faults.disarm();
    }

    /// Operations of `fault`'s kind run so far on this device: submissions (for
    /// [`Fault::Submit`] and [`Fault::Destroy`]), mappings or waits. A test counts a request's
    /// operations with it, to break the request at chosen points.
    pub fn operations_seen(&self, fault: Fault) -> u64 {
        self.faults.seen(fault)
    }

    /// Destroys the device, as a driver reset would; later operations return errors.
    pub fn destroy(&self) {
        self.device.destroy();
        // Known now, before the device-lost callback runs (it fires on a later poll), so the
        // next operation is refused instead of reaching a dead device.
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        lost.get_or_insert_with(|| "the device was destroyed".to_string());
    }

    fn check_alive(&self, context: &str) -> GpuResult<()> {
        if let Some(reason) = self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(GpuError::DeviceLost(format!(
                "{reason} (noticed during {context})"
            )));
        }
        let mut escaped = self.uncaptured.lock().unwrap_or_else(|p| p.into_inner());
        if !escaped.is_empty() {
            let message = escaped.join("; ");
            escaped.clear();
            return Err(GpuError::Device {
                kind: "uncaptured",
                context: context.to_string(),
                message,
            });
        }
        Ok(())
    }

    /// Runs `f` inside validation, out-of-memory and internal error scopes and turns any
    /// error they catch into a [`GpuError`] that names `context`.
    pub fn checked<T>(&self, context: &str, f: impl FnOnce() -> T) -> GpuResult<T> {
        self.check_alive(context)?;
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let errors = [
            ("validation", pollster::block_on(validation.pop())),
            ("out-of-memory", pollster::block_on(oom.pop())),
            ("internal", pollster::block_on(internal.pop())),
        ];
        for (kind, error) in errors {
            if let Some(e) = error {
                return Err(GpuError::Device {
                    kind,
                    context: context.to_string(),
                    message: e.to_string(),
                });
            }
        }
        self.check_alive(context)?;
        Ok(value)
    }

    /// A storage buffer of `len` values; contents unspecified.
    pub fn alloc<T: Pod>(&self, len: usize, label: &str) -> GpuResult<GpuBuffer<T>> {
        self.alloc_with_usage(len, STORAGE_USAGE, label)
    }

    /// A uniform buffer holding `bytes` (a kernel's parameter block).
    ///
    /// Not drawn from the pool: a bind group owns it, and it lives exactly as long as the
    /// launches that read it.
    ///
    /// Written through the queue rather than mapped at creation: on a device that was lost
    /// but has not said so yet, wgpu's `create_buffer_init` panics reading the mapping, while
    /// a queue write fails into the error scope.
    pub fn uniform_buffer(&self, bytes: &[u8]) -> GpuResult<wgpu::Buffer> {
        self.checked("uploading kernel parameters", || {
            // Uniform buffers are sized in multiples of 4 bytes (the parameter blocks are
            // u32/f32 structs); a queue write wants the same.
            let size = (bytes.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
            let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size,
                usage: UNIFORM_USAGE,
                mapped_at_creation: false,
            });
            let mut padded = bytes.to_vec();
            padded.resize(size as usize, 0);
            self.queue.write_buffer(&buffer, 0, &padded);
            self.pool.counters.upload(size);
            buffer
        })
    }

    /// A small storage buffer bound where a kernel's layout wants a binding it will not read.
    pub fn placeholder(&self) -> &GpuBuffer<f32> {
        &self.placeholder
    }

    fn alloc_with_usage<T: Pod>(
        &self,
        len: usize,
        usage: wgpu::BufferUsages,
        label: &str,
    ) -> GpuResult<GpuBuffer<T>> {
        let bytes = byte_len::<T>(len);
        if bytes > self.limits.max_buffer_size {
            return Err(GpuError::Limit {
                what: format!("buffer '{label}'"),
                needed: bytes,
                limit: self.limits.max_buffer_size,
                limit_name: "max_buffer_size",
                hint: "",
            });
        }
        self.checked(&format!("allocating '{label}'"), || {
            GpuBuffer::from_pool(&self.pool, &self.device, len, usage, label)
        })
    }

    /// A storage buffer holding `data`.
    pub fn upload<T: Pod>(&self, data: &[T], label: &str) -> GpuResult<GpuBuffer<T>> {
        let buf = self.alloc::<T>(data.len(), label)?;
        buf.write(&self.queue, data)?;
        Ok(buf)
    }

    /// A storage buffer of `len` zeros.
    pub fn zeros<T: Pod>(&self, len: usize, label: &str) -> GpuResult<GpuBuffer<T>> {
        let buf = self.alloc::<T>(len, label)?;
        let mut encoder = self.encoder(label);
        encoder.clear_buffer(buf.raw(), 0, Some(buf.capacity_bytes()));
        self.submit(label, encoder)?;
        Ok(buf)
    }

    /// Changes a buffer's length, keeping its first `min(old, new)` values.
    pub fn resize<T: Pod>(&self, buf: &mut GpuBuffer<T>, len: usize) -> GpuResult<()> {
        if buf.set_len_within_capacity(len) {
            return Ok(());
        }
        let bigger = self.alloc::<T>(len, "resized")?;
        let mut encoder = self.encoder("resize");
        let keep = buf.byte_len().min(bigger.byte_len()).next_multiple_of(4);
        if keep > 0 {
            encoder.copy_buffer_to_buffer(buf.raw(), 0, bigger.raw(), 0, keep);
        }
        self.submit("resize", encoder)?;
        buf.replace(bigger);
        Ok(())
    }

    /// Reads a buffer back to the host (waits for all submitted work).
    pub fn download<T: Pod>(&self, buf: &GpuBuffer<T>) -> GpuResult<Vec<T>> {
        self.download_prefix(buf, buf.len())
    }

    /// Reads the first `len` values of a buffer back to the host.
    pub fn download_prefix<T: Pod>(&self, buf: &GpuBuffer<T>, len: usize) -> GpuResult<Vec<T>> {
        let len = len.min(buf.len());
        let bytes = byte_len::<T>(len);
        if bytes == 0 {
            return Ok(Vec::new());
        }
        // Copies move whole 4-byte words: an odd count of 2-byte values reads one past the
        // end, which the buffer's own padding holds.
        let padded = bytes.next_multiple_of(4);
        let mut values = self.read_back(buf, &[(0, padded)])?;
        values.truncate(bytes as usize);
        Ok(bytemuck::pod_collect_to_vec::<u8, T>(&values))
    }

    /// Reads the values of `ranges` (index ranges, each within the buffer, whose byte bounds
    /// fall on 4-byte words) back to the host, concatenated in the order given: one copy per
    /// range into one staging buffer, one mapping.
    pub fn download_ranges<T: Pod>(
        &self,
        buf: &GpuBuffer<T>,
        ranges: &[std::ops::Range<usize>],
    ) -> GpuResult<Vec<T>> {
        let mut spans = Vec::with_capacity(ranges.len());
        for r in ranges {
            let (start, end) = (byte_len::<T>(r.start), byte_len::<T>(r.end));
            if r.start > r.end || r.end > buf.len() {
                return Err(GpuError::Invalid(format!(
                    "reading values {}..{} of a buffer of {}",
                    r.start,
                    r.end,
                    buf.len()
                )));
            }
            if !start.is_multiple_of(4) || !end.is_multiple_of(4) {
                return Err(GpuError::Invalid(format!(
                    "reading values {}..{}: bytes {start}..{end} are not whole 4-byte words",
                    r.start, r.end
                )));
            }
            if end > start {
                spans.push((start, end - start));
            }
        }
        let bytes = self.read_back(buf, &spans)?;
        Ok(bytemuck::pod_collect_to_vec::<u8, T>(&bytes))
    }

    /// The first `len` values of each buffer, read back together: one copy each into one
    /// staging buffer, one submission, one mapping (a read-back is a round trip a real GPU
    /// charges for, whatever its size).
    pub fn download_all<T: Pod>(
        &self,
        buffers: &[(&GpuBuffer<T>, usize)],
    ) -> GpuResult<Vec<Vec<T>>> {
        let sizes: Vec<u64> = buffers
            .iter()
            .map(|(b, len)| byte_len::<T>((*len).min(b.len())))
            .collect();
        let spans: Vec<(&wgpu::Buffer, u64, u64)> = buffers
            .iter()
            .zip(&sizes)
            .filter(|(_, size)| **size > 0)
            .map(|((b, _), size)| (b.raw(), 0, size.next_multiple_of(4)))
            .collect();
        let bytes = self.read_back_spans(&spans)?;
        let mut at = 0usize;
        Ok(sizes
            .iter()
            .map(|&size| {
                let values = bytemuck::pod_collect_to_vec::<u8, T>(&bytes[at..at + size as usize]);
                if size > 0 {
                    at += size.next_multiple_of(4) as usize;
                }
                values
            })
            .collect())
    }

    /// The bytes of `spans` (offset, size; both multiples of 4) of `buf`, concatenated.
    fn read_back<T: Pod>(&self, buf: &GpuBuffer<T>, spans: &[(u64, u64)]) -> GpuResult<Vec<u8>> {
        let spans: Vec<(&wgpu::Buffer, u64, u64)> =
            spans.iter().map(|&(o, s)| (buf.raw(), o, s)).collect();
        self.read_back_spans(&spans)
    }

    /// The first `len` values of `buf`, copied aside now and read back with the next
    /// read-back of anything ([`Gpu::values_of`] forces one if none comes first): a value
    /// needed only later costs no round trip of its own (the `gpu::later` module's notes).
    pub fn read_later(&self, buf: &GpuBuffer<f32>, len: usize) -> GpuResult<LaterRead> {
        let len = len.min(buf.len());
        let copy = self.alloc::<f32>(len.max(1), "read later")?;
        let mut encoder = self.encoder("read later");
        encoder.copy_buffer_to_buffer(buf.raw(), 0, copy.raw(), 0, byte_len::<f32>(len));
        self.submit("read later", encoder)?;
        let (pending, later) = Pending::new(copy, len);
        self.later
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pending);
        Ok(later)
    }

    /// The values of a [`Gpu::read_later`], read back already or now.
    pub fn values_of(&self, later: &LaterRead) -> GpuResult<Vec<f32>> {
        if !later.is_ready() {
            self.read_pending()?;
        }
        // Another thread's read-back may have taken this copy along and not yet handed its
        // values over: it will, with the values or its failure, within its own wait.
        let deadline = Instant::now() + self.wait_timeout;
        while !later.is_ready() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        later.values()
    }

    /// Reads back every copy waiting for a read-back (one round trip; none if none waits).
    pub fn read_pending(&self) -> GpuResult<()> {
        self.read_back_spans(&[]).map(|_| ())
    }

    /// The bytes of `spans` (buffer, offset, size; both multiples of 4), concatenated, with
    /// every copy waiting to ride along read in the same round trip.
    fn read_back_spans(&self, spans: &[(&wgpu::Buffer, u64, u64)]) -> GpuResult<Vec<u8>> {
        let riders: Vec<Pending> =
            std::mem::take(&mut *self.later.lock().unwrap_or_else(|p| p.into_inner()));
        let own: u64 = spans.iter().map(|s| s.2).sum();
        let mut all = spans.to_vec();
        all.extend(
            riders
                .iter()
                .map(|r| (r.copy.raw(), 0, byte_len::<f32>(r.len)))
                .filter(|s| s.2 > 0),
        );
        match self.read_spans_once(&all) {
            Ok(mut bytes) => {
                let mut at = own as usize;
                for rider in riders {
                    let size = byte_len::<f32>(rider.len) as usize;
                    let values = bytemuck::pod_collect_to_vec::<u8, f32>(&bytes[at..at + size]);
                    at += size;
                    rider.resolve(Ok(values));
                }
                bytes.truncate(own as usize);
                Ok(bytes)
            }
            Err(e) => {
                for rider in riders {
                    rider.resolve(Err(e.to_string()));
                }
                Err(e)
            }
        }
    }

    /// The bytes of `spans`, concatenated: one staging buffer, one submission, one mapping.
    fn read_spans_once(&self, spans: &[(&wgpu::Buffer, u64, u64)]) -> GpuResult<Vec<u8>> {
        let total: u64 = spans.iter().map(|s| s.2).sum();
        if total == 0 {
            return Ok(Vec::new());
        }
        self.pool.counters.readback(total);
        let staging = self.alloc_with_usage::<u8>(
            total as usize,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            "read-back",
        )?;
        let mut encoder = self.encoder("read-back");
        let mut at = 0;
        for &(buf, offset, size) in spans {
            encoder.copy_buffer_to_buffer(buf, offset, staging.raw(), at, size);
            at += size;
        }
        self.submit("read-back", encoder)?;

        let (tx, rx) = std::sync::mpsc::channel();
        staging
            .raw()
            .map_async(wgpu::MapMode::Read, 0..total, move |r| {
                let _ = tx.send(r);
            });
        // With several threads on one device, the callback may run inside another thread's
        // poll, a moment after ours returned: poll until it arrives or the wait times out.
        let deadline = Instant::now() + self.wait_timeout;
        let mapped = loop {
            if let Err(e) = self.poll_wait("read-back") {
                // The mapping is still pending and may complete later: a buffer handed out
                // again mapped would fail every later read-back.
                staging.discard();
                return Err(e);
            }
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(result) => break result,
                Err(_) if Instant::now() < deadline => continue,
                Err(_) => {
                    // The buffer may still become mapped: never hand it out again.
                    staging.discard();
                    return Err(GpuError::Map {
                        context: "read-back".into(),
                        message: "the mapping did not complete before the wait timed out".into(),
                    });
                }
            }
        };
        if !self.faults.tick(Fault::Map).is_empty() {
            if mapped.is_ok() {
                staging.raw().unmap();
            }
            return Err(GpuError::Injected("buffer mapping failed".into()));
        }
        if let Err(e) = mapped {
            staging.discard();
            return Err(GpuError::Map {
                context: "read-back".into(),
                message: e.to_string(),
            });
        }
        let values = {
            let view = staging
                .raw()
                .get_mapped_range(0..total)
                .map_err(|e| GpuError::Map {
                    context: "read-back".into(),
                    message: e.to_string(),
                })?;
            view.to_vec()
        };
        staging.raw().unmap();
        Ok(values)
    }

    /// A new command encoder.
    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Finishes and submits `encoder`; errors in its commands come back here.
    pub fn submit(&self, context: &str, encoder: wgpu::CommandEncoder) -> GpuResult<()> {
        self.pool.counters.submission();
        for fault in self.faults.tick(Fault::Submit) {
            match fault {
                Fault::Destroy => self.destroy(),
                _ => {
                    return Err(GpuError::Injected(format!(
                        "queue submission failed ({context})"
                    )));
                }
            }
        }
        self.checked(context, || {
            self.queue.submit(Some(encoder.finish()));
        })
    }

    /// Blocks until the device has finished all submitted work (counted in
    /// [`super::counters::DeviceCounts::waits`]; a read-back's own waiting is not).
    pub fn wait(&self, context: &str) -> GpuResult<()> {
        self.pool.counters.wait();
        self.poll_wait(context)
    }

    /// [`Gpu::wait`], uncounted: a read-back polls through it until its mapping arrives.
    fn poll_wait(&self, context: &str) -> GpuResult<()> {
        if !self.faults.tick(Fault::Wait).is_empty() {
            return Err(GpuError::Injected(format!(
                "device wait timed out ({context})"
            )));
        }
        self.check_alive(context)?;
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(self.wait_timeout),
            })
            .map_err(|e| GpuError::Poll {
                context: context.to_string(),
                message: e.to_string(),
            })?;
        self.check_alive(context)
    }

    /// Records `record` into one compute pass and submits it, without waiting: the queue
    /// runs submissions in order, so the next read-back (or [`Gpu::wait`]) sees this work
    /// done and reports any failure of it. A request therefore pays one device round trip
    /// per read-back, not one per submission (a wait per submission made a one-user Gowalla
    /// request stop 38 times).
    pub fn run(
        &self,
        context: &str,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) -> GpuResult<()> {
        let mut encoder = self.encoder(context);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(context),
                timestamp_writes: None,
            });
            record(&mut pass);
        }
        self.submit(context, encoder)
    }

    /// Runs `record` in one compute pass on a warm device and measures it: by timestamp
    /// queries when the device has them, else by the wall clock around submit and wait.
    pub fn time(
        &self,
        context: &str,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) -> GpuResult<KernelTime> {
        if !self.features.timestamp_query {
            let start = Instant::now();
            self.run(context, record)?;
            return Ok(KernelTime {
                seconds: start.elapsed().as_secs_f64(),
                source: TimeSource::WallClock,
            });
        }
        let queries = self.checked(context, || {
            self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timing"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            })
        })?;
        let resolved = self.alloc_with_usage::<u64>(
            2,
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            "timestamps",
        )?;
        let copy = self.alloc::<u64>(2, "timestamps copy")?;
        let mut encoder = self.encoder(context);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(context),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            record(&mut pass);
        }
        encoder.resolve_query_set(&queries, 0..2, resolved.raw(), 0);
        encoder.copy_buffer_to_buffer(resolved.raw(), 0, copy.raw(), 0, 16);
        self.submit(context, encoder)?;
        let ticks = self.download(&copy)?;
        let period_ns = self.queue.get_timestamp_period() as f64;
        let seconds = ticks[1].saturating_sub(ticks[0]) as f64 * period_ns * 1e-9;
        Ok(KernelTime {
            seconds,
            source: TimeSource::Timestamp,
        })
    }
}

impl Drop for Gpu {
    /// Says when a fault armed by `IFRU_FAULT_GPU` never fired, with the operations the
    /// device ran: a command-line test learns from it where a command can be broken.
    fn drop(&mut self) {
        if self.fault_from_options && self.faults.pending() {
            eprintln!(
                "IFRU_FAULT_GPU: the armed fault did not fire; the device ran {} submissions, \
                 {} mappings and {} waits",
                self.faults.seen(Fault::Submit),
                self.faults.seen(Fault::Map),
                self.faults.seen(Fault::Wait)
            );
        }
    }
}

/// Where a kernel time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TimeSource {
    /// GPU timestamp queries around the pass.
    Timestamp,
    /// Host wall clock around submit and wait (includes submission overhead).
    WallClock,
}

/// A measured kernel time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KernelTime {
    pub seconds: f64,
    pub source: TimeSource,
}

/// A device its user either borrows or shares: what an [`crate::unlearn::Unlearner`] (or any
/// long-lived owner of device state) holds, so a binding can give it an `Arc<Gpu>` of its own
/// while a command borrows the one it opened.
#[derive(Clone)]
pub enum GpuHandle<'g> {
    /// A device owned elsewhere, outliving the holder.
    Borrowed(&'g Gpu),
    /// A device kept alive by its holders.
    Shared(Arc<Gpu>),
}

impl std::ops::Deref for GpuHandle<'_> {
    type Target = Gpu;

    fn deref(&self) -> &Gpu {
        match self {
            GpuHandle::Borrowed(gpu) => gpu,
            GpuHandle::Shared(gpu) => gpu,
        }
    }
}

impl<'g> From<&'g Gpu> for GpuHandle<'g> {
    fn from(gpu: &'g Gpu) -> Self {
        GpuHandle::Borrowed(gpu)
    }
}

impl From<Arc<Gpu>> for GpuHandle<'static> {
    fn from(gpu: Arc<Gpu>) -> Self {
        GpuHandle::Shared(gpu)
    }
}

impl From<Gpu> for GpuHandle<'static> {
    fn from(gpu: Gpu) -> Self {
        GpuHandle::Shared(Arc::new(gpu))
    }
}
