//! GPU runtime (in progress).
