//! The unlearning engine: influence right-hand side, importance pruning, the Hessian-vector
//! product operator and the conjugate-gradient solve (docs/ARCHITECTURE.md).

pub mod backup;
pub mod calibrate;
pub mod cg;
pub mod engine;
pub mod forgetting;
pub mod hvp;
pub mod influence;
pub mod operator;
pub mod precond;
pub mod prune;
pub mod remaining;
pub mod request;
pub mod rhs;

pub use cg::{CgOptions, CgOutcome, CgReport, CheckSchedule, solve};
pub use operator::LinearOperator;
pub use precond::Preconditioner;
