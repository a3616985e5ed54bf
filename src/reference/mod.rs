//! CPU references (in progress).
