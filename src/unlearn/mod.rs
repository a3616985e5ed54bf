//! The unlearning engine: influence right-hand side, importance pruning, the Hessian-vector
//! product operator and the conjugate-gradient solve (DESIGN §1, issue 5).

pub mod cg;
pub mod operator;
pub mod precond;

pub use cg::{CgOptions, CgOutcome, CgReport, solve};
pub use operator::LinearOperator;
pub use precond::Preconditioner;
