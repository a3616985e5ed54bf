//! The unlearning engine: influence right-hand side, importance pruning, the Hessian-vector
//! product operator and the conjugate-gradient solve (DESIGN §1, issue 5).

pub mod operator;
pub mod prune;
pub mod rhs;

pub use operator::LinearOperator;
