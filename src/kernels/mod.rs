//! Kernel wrappers (in progress).
