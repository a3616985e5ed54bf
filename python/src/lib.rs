//! `ifru._ifru`: the native half of the Python package. Commands run in-process through the
//! command line's own parser (`ifru_cli::app::run`), so a keyword argument is a long flag
//! and every check, message and report is the command's; the Python half (`ifru/`) builds the
//! argument lists, reads the reports and shapes the results. GPU work runs with the GIL
//! released. Failures raise `ifru.IfruError` subclasses named after `ifru::ErrorKind`.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use ifru::ErrorKind;
use ifru::gpu::Gpu;
use ifru::kernels::Storage;
use ifru::loaded::LoadedModel;
use ifru::serve::{Recommender, base_tables, final_tables, user_index, width};

create_exception!(
    ifru,
    IfruError,
    PyException,
    "Any failure of an ifru command."
);
create_exception!(
    ifru,
    BadInputError,
    IfruError,
    "The input is wrong (a file, line, id or setting; the message names it)."
);
create_exception!(
    ifru,
    LockHeldError,
    IfruError,
    "Another process holds the model directory's lock."
);
create_exception!(
    ifru,
    DataMismatchError,
    IfruError,
    "The data is not the data the model was trained on."
);
create_exception!(
    ifru,
    DeviceError,
    IfruError,
    "No usable GPU adapter, or the device failed or was lost."
);
create_exception!(
    ifru,
    SolveRefusedError,
    IfruError,
    "The influence solve was refused; nothing changed."
);
create_exception!(
    ifru,
    CheckFailedError,
    IfruError,
    "The forgetting check failed and the request asked to be refused; nothing changed."
);
create_exception!(
    ifru,
    UnusableError,
    IfruError,
    "The model could not be restored after a failure; open it again."
);

/// A failure as Python needs it, made where it happened (a boxed error is not `Send`, and
/// the work runs with the GIL released): the library's kind, whether the command line refused
/// its arguments, and the message.
struct Failure {
    kind: Option<ErrorKind>,
    usage: bool,
    text: String,
}

impl From<Box<dyn std::error::Error>> for Failure {
    fn from(e: Box<dyn std::error::Error>) -> Self {
        Failure {
            kind: e.downcast_ref::<ifru::Error>().map(ifru::Error::kind),
            usage: e.downcast_ref::<ifru_cli::app::UsageError>().is_some(),
            text: e.to_string(),
        }
    }
}

impl From<ifru::Error> for Failure {
    fn from(e: ifru::Error) -> Self {
        Failure {
            kind: Some(e.kind()),
            usage: false,
            text: e.to_string(),
        }
    }
}

/// The Python exception: by `ErrorKind` when the library raised it, `BadInputError` when the
/// command line refused its arguments, else `IfruError`.
impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        let text = f.text;
        match f.kind {
            Some(ErrorKind::BadInput) => BadInputError::new_err(text),
            Some(ErrorKind::LockHeld) => LockHeldError::new_err(text),
            Some(ErrorKind::DataMismatch) => DataMismatchError::new_err(text),
            Some(ErrorKind::Device) => DeviceError::new_err(text),
            Some(ErrorKind::SolveRefused) => SolveRefusedError::new_err(text),
            Some(ErrorKind::CheckFailed) => CheckFailedError::new_err(text),
            Some(ErrorKind::Unusable) => UnusableError::new_err(text),
            Some(_) => IfruError::new_err(text),
            None if f.usage => BadInputError::new_err(text),
            None => IfruError::new_err(text),
        }
    }
}

/// Runs `ifru ARGS...` in-process (the GIL released) and raises on failure.
#[pyfunction]
fn run(py: Python<'_>, args: Vec<String>) -> PyResult<()> {
    py.allow_threads(|| ifru_cli::app::run(args).map_err(Failure::from))?;
    Ok(())
}

/// Users' and items' tables as little-endian f32 bytes, their row counts and the width.
type Tables<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    usize,
    usize,
    usize,
);

/// A model's tables as little-endian f32 bytes with their shapes: `(users, items, n_users,
/// n_items, width)`. `final=True`: the embeddings a score uses (LightGCN's propagation on the
/// model's current graph, on the GPU); `False`: the parameters θ. An imported model's tables
/// at the width it came with.
#[pyfunction]
#[pyo3(signature = (model, final_ = true, data = None))]
fn tables<'py>(
    py: Python<'py>,
    model: PathBuf,
    final_: bool,
    data: Option<PathBuf>,
) -> PyResult<Tables<'py>> {
    let (users, items, nu, ni, width) = py.allow_threads(|| -> Result<_, Failure> {
        let loaded = LoadedModel::open(&model, data.as_deref())?;
        let (users, items) = if final_ {
            let gpu = Gpu::from_env().map_err(ifru::Error::from)?;
            final_tables(&gpu, &loaded)?
        } else {
            base_tables(&loaded)
        };
        let bytes = |t: &[f32]| -> Vec<u8> { t.iter().flat_map(|v| v.to_le_bytes()).collect() };
        let (nu, ni) = (loaded.data.n_users as usize, loaded.data.n_items as usize);
        Ok((bytes(&users), bytes(&items), nu, ni, width(&loaded)))
    })?;
    Ok((
        PyBytes::new(py, &users),
        PyBytes::new(py, &items),
        nu,
        ni,
        width,
    ))
}

/// Each user's top `k` items among those not in its training rows, as `(item id, score)`
/// lists (ids are the data's own), on the model's current graph.
#[pyfunction]
#[pyo3(signature = (model, users, k = 20, data = None))]
fn recommend(
    py: Python<'_>,
    model: PathBuf,
    users: Vec<String>,
    k: u32,
    data: Option<PathBuf>,
) -> PyResult<Vec<Vec<(String, f32)>>> {
    Ok(py.allow_threads(|| -> Result<_, Failure> {
        let loaded = LoadedModel::open(&model, data.as_deref())?;
        let gpu = Gpu::from_env().map_err(ifru::Error::from)?;
        let recommender = Recommender::new(&gpu, &loaded, Storage::F32)?;
        let mut out = Vec::with_capacity(users.len());
        for raw in &users {
            let user = user_index(&loaded, raw)?;
            let top = recommender.top_k(&loaded, user, k)?;
            out.push(top.into_iter().map(|r| (r.item_id, r.score)).collect());
        }
        Ok(out)
    })?)
}

/// A device kept open for a stream of requests: `ifru unlearn` runs on it without opening a
/// device per request (other commands run as [`run`] runs them).
#[pyclass(frozen)]
struct Device {
    gpu: Arc<Gpu>,
}

#[pymethods]
impl Device {
    /// Opens the device (`IFRU_ADAPTER` and the other environment variables apply).
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let gpu =
            py.allow_threads(|| Gpu::from_env().map_err(|e| Failure::from(ifru::Error::from(e))))?;
        Ok(Device { gpu: Arc::new(gpu) })
    }

    /// The adapter's name.
    fn adapter(&self) -> String {
        self.gpu.adapter().name
    }

    /// Runs `ifru ARGS...` in-process on this device (the GIL released).
    fn run(&self, py: Python<'_>, args: Vec<String>) -> PyResult<()> {
        let gpu = Arc::clone(&self.gpu);
        py.allow_threads(move || ifru_cli::app::run_on(args, &gpu).map_err(Failure::from))?;
        Ok(())
    }
}

#[pymodule]
fn _ifru(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(tables, m)?)?;
    m.add_function(wrap_pyfunction!(recommend, m)?)?;
    m.add_class::<Device>()?;
    let py = m.py();
    m.add("IfruError", py.get_type::<IfruError>())?;
    m.add("BadInputError", py.get_type::<BadInputError>())?;
    m.add("LockHeldError", py.get_type::<LockHeldError>())?;
    m.add("DataMismatchError", py.get_type::<DataMismatchError>())?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    m.add("SolveRefusedError", py.get_type::<SolveRefusedError>())?;
    m.add("CheckFailedError", py.get_type::<CheckFailedError>())?;
    m.add("UnusableError", py.get_type::<UnusableError>())?;
    Ok(())
}
