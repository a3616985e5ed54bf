//! Unlearning: the [`engine::Unlearner`] (a resident model that applies forget requests and
//! rolls back a failed one), what a request's lines lead to ([`request`]), the rollback copy
//! ([`backup`]), the model's own step length for small requests ([`model_length`]) and the
//! influence update itself ([`influence`]; docs/ARCHITECTURE.md).

pub mod backup;
pub mod commit;
pub mod engine;
pub mod influence;
pub mod model_length;
pub mod request;

pub use engine::{MethodId, MethodOutcome, Unlearner};
pub use request::ForgetRows;
