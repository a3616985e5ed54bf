//! Solving (H + δI) x = b on the GPU: damped preconditioned conjugate gradient ([`cg`]) over
//! any [`LinearOperator`], with the preconditioners of [`precond`]. Nothing here knows about
//! recommendation models; the influence update supplies the operator.

pub mod cg;
pub mod operator;
pub mod precond;
pub mod recycle;

pub use cg::{
    CgOptions, CgOutcome, CgReport, CheckSchedule, Start, solve, solve_from, solve_recording,
};
pub use operator::LinearOperator;
pub use precond::Preconditioner;
pub use recycle::KrylovBasis;
