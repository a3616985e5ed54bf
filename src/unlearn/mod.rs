//! The unlearning engine: influence right-hand side, importance pruning, the Hessian-vector
//! product operator and the conjugate-gradient solve (DESIGN §1, issue 5).

pub mod backup;
pub mod bench;
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
pub mod soak;
pub mod stream;
pub mod sweep;

pub use cg::{CgOptions, CgOutcome, CgReport, CheckSchedule, solve};
pub use operator::LinearOperator;
pub use precond::Preconditioner;
