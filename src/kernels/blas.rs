//! BLAS-1 on device vectors: fill, copy, scale, `y = a·x + b·y`.
//!
//! Scalars are either host constants or ratios of entries of a device scalar buffer
//! ([`Scalar::Device`]), which is how conjugate gradient keeps α and β on the GPU.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::shaders::BLAS;
use super::table::{WORKGROUP, element_binding, element_chunks, fits_one_binding, params};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// A scalar factor of a BLAS-1 kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// A constant known on the host.
    Host(f32),
    /// `c · s[num] / s[den]` for the device scalar buffer `s`; without `den`, `c · s[num]`.
    /// A zero denominator yields 0 (never inf or NaN).
    Device { c: f32, num: u32, den: Option<u32> },
}

const NONE: u32 = u32::MAX;

impl Scalar {
    fn parts(self) -> (f32, u32, u32) {
        match self {
            Scalar::Host(c) => (c, NONE, NONE),
            Scalar::Device { c, num, den } => (c, num, den.unwrap_or(NONE)),
        }
    }

    fn is_device(self) -> bool {
        matches!(self, Scalar::Device { .. })
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BlasParams {
    n: u32,
    a_num: u32,
    a_den: u32,
    b_num: u32,
    b_den: u32,
    row_dim: u32,
    alpha: f32,
    beta: f32,
}

fn blas_params(n: u32, a: Scalar, b: Scalar) -> BlasParams {
    let (alpha, a_num, a_den) = a.parts();
    let (beta, b_num, b_den) = b.parts();
    BlasParams {
        n,
        a_num,
        a_den,
        b_num,
        b_den,
        row_dim: 0,
        alpha,
        beta,
    }
}

fn check_len(x: &GpuBuffer<f32>, y: &GpuBuffer<f32>) -> GpuResult<()> {
    if x.len() != y.len() {
        return Err(GpuError::Invalid(format!(
            "vector lengths differ: {} and {}",
            x.len(),
            y.len()
        )));
    }
    Ok(())
}

/// One launch per binding-sized chunk of `y` (and of `x`, at the same elements).
fn elementwise<'a>(
    gpu: &Gpu,
    entry: &'static str,
    x: Option<&'a GpuBuffer<f32>>,
    y: &'a GpuBuffer<f32>,
    a: Scalar,
    b: Scalar,
    scalars: Option<&'a GpuBuffer<f32>>,
) -> GpuResult<Plan<'a>> {
    if (a.is_device() || b.is_device()) && scalars.is_none() {
        return Err(GpuError::Invalid(
            "a device scalar needs the scalar buffer".into(),
        ));
    }
    let mut launches = Vec::new();
    for chunk in element_chunks(gpu, y.len())? {
        let p = params(gpu, &blas_params(chunk.count, a, b))?;
        let mut bindings = vec![(0, p.as_entire_binding()), (2, element_binding(y, chunk))];
        if let Some(x) = x {
            bindings.push((1, element_binding(x, chunk)));
        }
        if entry == "scale" || entry == "axpby" {
            let s = scalars.unwrap_or(gpu.placeholder());
            bindings.push((3, s.binding()));
        }
        launches.push(gpu.launch(&BLAS, entry, &bindings, chunk.count.div_ceil(WORKGROUP))?);
    }
    Ok(Plan::new(launches))
}

/// `y[i] = value`.
pub fn fill<'a>(gpu: &Gpu, y: &'a GpuBuffer<f32>, value: f32) -> GpuResult<Plan<'a>> {
    elementwise(
        gpu,
        "fill",
        None,
        y,
        Scalar::Host(value),
        Scalar::Host(0.0),
        None,
    )
}

/// `y[i] = x[i]`.
pub fn copy<'a>(gpu: &Gpu, x: &'a GpuBuffer<f32>, y: &'a GpuBuffer<f32>) -> GpuResult<Plan<'a>> {
    check_len(x, y)?;
    let one = Scalar::Host(1.0);
    elementwise(gpu, "copy", Some(x), y, one, one, None)
}

/// `y[i] = b · y[i]`.
pub fn scale<'a>(
    gpu: &Gpu,
    y: &'a GpuBuffer<f32>,
    b: Scalar,
    scalars: Option<&'a GpuBuffer<f32>>,
) -> GpuResult<Plan<'a>> {
    elementwise(gpu, "scale", None, y, Scalar::Host(0.0), b, scalars)
}

/// `y[i] = a · x[i] + b · y[i]`; with `b` equal to 0, `y` is not read.
pub fn axpby<'a>(
    gpu: &Gpu,
    a: Scalar,
    x: &'a GpuBuffer<f32>,
    b: Scalar,
    y: &'a GpuBuffer<f32>,
    scalars: Option<&'a GpuBuffer<f32>>,
) -> GpuResult<Plan<'a>> {
    check_len(x, y)?;
    elementwise(gpu, "axpby", Some(x), y, a, b, scalars)
}

/// `y[i] = records[i · stride + field]`: one field of each fixed-size record (a scoring
/// pass's score out of its (score, loss, ℓ′, ℓ″) records), so a read-back moves only the
/// values it needs. Both buffers must fit one binding (scorers batch their records to).
pub fn take_field<'a>(
    gpu: &Gpu,
    records: &'a GpuBuffer<f32>,
    stride: u32,
    field: u32,
    y: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    if stride == 0 || field >= stride || records.len() != y.len() * stride as usize {
        return Err(GpuError::Invalid(format!(
            "take_field: field {field} of records of {stride} in {} values, into {}",
            records.len(),
            y.len()
        )));
    }
    if y.is_empty() {
        return Ok(Plan::new(Vec::new()));
    }
    fits_one_binding(gpu, records, "the records")?;
    let mut p = blas_params(y.len() as u32, Scalar::Host(0.0), Scalar::Host(0.0));
    // The kernel reads the record size from row_dim and the field from a_num.
    p.row_dim = stride;
    p.a_num = field;
    let p = params(gpu, &p)?;
    let launch = gpu.launch(
        &BLAS,
        "take_field",
        &[
            (0, p.as_entire_binding()),
            (1, records.binding()),
            (2, y.binding()),
        ],
        (y.len() as u32).div_ceil(WORKGROUP),
    )?;
    Ok(Plan::new(vec![launch]))
}

/// `scalars[out] = min(1, bound ÷ √scalars[norm_sq])` (0 for a non-finite norm): the
/// factor that clamps a vector of squared norm `scalars[norm_sq]` to length `bound`, for a
/// [`Scalar::Device`] scale. One thread.
pub fn clamp_factor<'a>(
    gpu: &Gpu,
    scalars: &'a GpuBuffer<f32>,
    norm_sq: u32,
    out: u32,
    bound: f32,
) -> GpuResult<Plan<'a>> {
    if norm_sq as usize >= scalars.len() || out as usize >= scalars.len() {
        return Err(GpuError::Invalid(format!(
            "clamp_factor: slots {norm_sq} and {out} of {} scalars",
            scalars.len()
        )));
    }
    if !(bound.is_finite() && bound >= 0.0) {
        return Err(GpuError::Invalid(format!(
            "clamp_factor: the bound {bound} must be finite and ≥ 0"
        )));
    }
    let mut p = blas_params(1, Scalar::Host(bound), Scalar::Host(0.0));
    // The kernel reads the norm's slot from a_num and writes the factor to b_num.
    p.a_num = norm_sq;
    p.b_num = out;
    let p = params(gpu, &p)?;
    let launch = gpu.launch(
        &BLAS,
        "clamp_factor",
        &[(0, p.as_entire_binding()), (2, scalars.binding())],
        1,
    )?;
    Ok(Plan::new(vec![launch]))
}

/// `y[rows[t]] += alpha · x[t]` for row-major tables with rows of `dim` values: `x` holds
/// one row per entry of `rows` (distinct row indices of `y`). Touches those rows only.
/// Both vectors must fit one binding ([`GpuError::Limit`] otherwise; the caller then takes
/// a whole-table pass).
pub fn add_rows<'a>(
    gpu: &Gpu,
    alpha: f32,
    x: &'a GpuBuffer<f32>,
    rows: &'a GpuBuffer<u32>,
    dim: u32,
    y: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    let n = rows.len() * dim as usize;
    if dim == 0 || x.len() != n || !y.len().is_multiple_of(dim as usize) {
        return Err(GpuError::Invalid(format!(
            "add_rows: {} values for {} rows of {dim}, into a table of {}",
            x.len(),
            rows.len(),
            y.len()
        )));
    }
    if n == 0 {
        return Ok(Plan::new(Vec::new()));
    }
    fits_one_binding(gpu, y, "the updated table")?;
    fits_one_binding(gpu, x, "the row update")?;
    let mut p = blas_params(n as u32, Scalar::Host(alpha), Scalar::Host(1.0));
    p.row_dim = dim;
    let p = params(gpu, &p)?;
    let launch = gpu.launch(
        &BLAS,
        "add_rows",
        &[
            (0, p.as_entire_binding()),
            (1, x.binding()),
            (2, y.binding()),
            (4, rows.binding()),
        ],
        (n as u32).div_ceil(WORKGROUP),
    )?;
    Ok(Plan::new(vec![launch]))
}
