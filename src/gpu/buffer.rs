//! Typed device buffers drawn from a pool that counts the bytes it holds.
//!
//! Freed buffers go back to the pool keyed by (capacity, usage) and are handed out
//! again, so a loop that allocates and drops the same sizes keeps memory flat; the
//! pool's statistics let tests check exactly that.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use bytemuck::Pod;
use serde::Serialize;

use super::error::{GpuError, GpuResult};

/// Capacities are rounded up to this many bytes, so nearby sizes share pool slots.
const CAPACITY_GRANULE: u64 = 256;

/// Byte counts held by a [`BufferPool`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PoolStats {
    /// Bytes in buffers currently handed out.
    pub live_bytes: u64,
    /// Bytes in freed buffers kept for reuse.
    pub cached_bytes: u64,
    /// The largest `live_bytes + cached_bytes` ever held.
    pub high_water_bytes: u64,
    /// Buffers created on the device (not counting reuses).
    pub created: u64,
    /// Allocations served from the pool's cache.
    pub reused: u64,
}

impl PoolStats {
    /// Everything the pool holds on the device.
    pub fn held_bytes(&self) -> u64 {
        self.live_bytes + self.cached_bytes
    }
}

#[derive(Default)]
struct PoolState {
    stats: PoolStats,
    free: HashMap<(u64, u32), Vec<wgpu::Buffer>>,
}

/// A recycling allocator of device buffers, shared by every [`GpuBuffer`] of one device.
#[derive(Clone, Default)]
pub struct BufferPool {
    state: Arc<Mutex<PoolState>>,
    /// The device's operation counters (bytes written through its buffers among them).
    pub(crate) counters: Arc<super::counters::Counters>,
}

fn lock(state: &Mutex<PoolState>) -> MutexGuard<'_, PoolState> {
    // A panic while holding the lock leaves only counters behind; they stay usable.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BufferPool {
    /// Current byte counts.
    pub fn stats(&self) -> PoolStats {
        lock(&self.state).stats
    }

    /// Drops the cached (free) buffers, returning their memory to the driver.
    pub fn trim(&self) {
        let mut st = lock(&self.state);
        st.free.clear();
        st.stats.cached_bytes = 0;
    }

    /// Starts the high-water mark afresh at what the pool holds now, so it measures what
    /// follows (a phase of a long run) rather than everything before.
    pub fn reset_high_water(&self) {
        let mut st = lock(&self.state);
        st.stats.high_water_bytes = st.stats.held_bytes();
    }

    /// A buffer of at least `bytes` bytes with `usage`, new or reused. Contents are unspecified.
    pub(crate) fn acquire(
        &self,
        device: &wgpu::Device,
        bytes: u64,
        usage: wgpu::BufferUsages,
        label: &str,
    ) -> (wgpu::Buffer, u64) {
        let capacity = bytes.max(16).div_ceil(CAPACITY_GRANULE) * CAPACITY_GRANULE;
        let key = (capacity, usage.bits());
        let mut st = lock(&self.state);
        if let Some(buffer) = st.free.get_mut(&key).and_then(Vec::pop) {
            st.stats.cached_bytes -= capacity;
            st.stats.live_bytes += capacity;
            st.stats.reused += 1;
            return (buffer, capacity);
        }
        st.stats.live_bytes += capacity;
        st.stats.created += 1;
        let held = st.stats.held_bytes();
        st.stats.high_water_bytes = st.stats.high_water_bytes.max(held);
        drop(st);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: capacity,
            usage,
            mapped_at_creation: false,
        });
        (buffer, capacity)
    }

    fn forget(&self, capacity: u64) {
        lock(&self.state).stats.live_bytes -= capacity;
    }

    fn release(&self, buffer: wgpu::Buffer, capacity: u64) {
        let mut st = lock(&self.state);
        st.stats.live_bytes -= capacity;
        st.stats.cached_bytes += capacity;
        st.free
            .entry((capacity, buffer.usage().bits()))
            .or_default()
            .push(buffer);
    }
}

/// The usages of every storage buffer: bound to kernels, uploaded to, read back from.
pub const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// The usages of a kernel's parameter block.
pub const UNIFORM_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::UNIFORM.union(wgpu::BufferUsages::COPY_DST);

/// A device buffer holding `len` values of `T`, returned to its pool when dropped.
pub struct GpuBuffer<T: Pod> {
    buffer: Option<wgpu::Buffer>,
    len: usize,
    capacity: u64,
    pool: BufferPool,
    _values: PhantomData<T>,
}

impl<T: Pod> GpuBuffer<T> {
    pub(crate) fn from_pool(
        pool: &BufferPool,
        device: &wgpu::Device,
        len: usize,
        usage: wgpu::BufferUsages,
        label: &str,
    ) -> Self {
        let (buffer, capacity) = pool.acquire(device, byte_len::<T>(len), usage, label);
        GpuBuffer {
            buffer: Some(buffer),
            len,
            capacity,
            pool: pool.clone(),
            _values: PhantomData,
        }
    }

    /// Number of `T` values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer holds no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the values (not of the capacity).
    pub fn byte_len(&self) -> u64 {
        byte_len::<T>(self.len)
    }

    /// Bytes reserved on the device.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity
    }

    /// The underlying wgpu buffer.
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer
            .as_ref()
            .expect("a GpuBuffer owns its buffer until it is dropped")
    }

    /// The whole value range as a binding (at least 4 bytes, so empty tables stay bindable).
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        self.binding_range(0, self.byte_len().max(4))
    }

    /// A byte range of the buffer as a binding.
    pub fn binding_range(&self, offset: u64, size: u64) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.raw(),
            offset,
            size: wgpu::BufferSize::new(size),
        })
    }

    /// Replaces the first `data.len()` values; `data` may not be longer than the buffer.
    pub fn write(&self, queue: &wgpu::Queue, data: &[T]) -> GpuResult<()> {
        self.write_at(queue, 0, data)
    }

    /// Replaces values `at..at + data.len()`, which must lie in the buffer; `at` must fall on
    /// a 4-byte boundary (any index of a 4-byte type). Ordered after work already submitted.
    pub fn write_at(&self, queue: &wgpu::Queue, at: usize, data: &[T]) -> GpuResult<()> {
        if at.checked_add(data.len()).is_none_or(|end| end > self.len) {
            return Err(GpuError::Invalid(format!(
                "writing {} values at {at} into a buffer of {}",
                data.len(),
                self.len
            )));
        }
        let offset = byte_len::<T>(at);
        if !offset.is_multiple_of(4) {
            return Err(GpuError::Invalid(format!(
                "a write at byte {offset} is not 4-byte aligned"
            )));
        }
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.is_empty() {
            return Ok(());
        }
        self.pool.counters.upload(bytes.len() as u64);
        if bytes.len().is_multiple_of(4) {
            queue.write_buffer(self.raw(), offset, bytes);
        } else {
            // Copies must be multiples of 4 bytes (odd counts of f16 values, say): the
            // padding may only land past the buffer's last value, never on a neighbour.
            if at + data.len() != self.len {
                return Err(GpuError::Invalid(format!(
                    "a write of {} bytes that is not a multiple of 4 must end the buffer",
                    bytes.len()
                )));
            }
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            queue.write_buffer(self.raw(), offset, &padded);
        }
        Ok(())
    }

    pub(crate) fn set_len_within_capacity(&mut self, len: usize) -> bool {
        if byte_len::<T>(len) <= self.capacity {
            self.len = len;
            true
        } else {
            false
        }
    }

    /// Drops the buffer without returning it to the pool (its state is not trusted, e.g. a
    /// mapping that may still complete); the pool stops counting its bytes.
    pub(crate) fn discard(mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.forget(self.capacity);
            buffer.destroy();
        }
    }

    pub(crate) fn replace(&mut self, other: GpuBuffer<T>) {
        *self = other;
    }
}

impl<T: Pod> Drop for GpuBuffer<T> {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.release(buffer, self.capacity);
        }
    }
}

/// Bytes of `len` values of `T`.
pub fn byte_len<T>(len: usize) -> u64 {
    (len as u64) * std::mem::size_of::<T>() as u64
}
