//! Atomic file writes (in progress).
