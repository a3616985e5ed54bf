//! The host side: loaders and splits on the real datasets, graph properties, parser fuzzing,
//! the model directory, and the import layering of the source tree.
//!
//! One test binary with a module per concern, sharing one device (`common::gpu`).

#[path = "../common/mod.rs"]
mod common;

mod data_real;
mod graph_props;
mod layering;
mod model_store;
mod parsers_fuzz;
