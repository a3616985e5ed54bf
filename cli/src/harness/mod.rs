//! Experiment harnesses: they train an original model, run unlearning methods on it and
//! measure them against a retrain. `bench` (one forget set, several seeds), `stream` (a
//! stream of small requests through one resident unlearner), `soak` (many requests into one
//! model directory), `sweep` (the same request at growing sizes).

pub mod bench;
pub mod soak;
pub mod stream;
pub mod sweep;
