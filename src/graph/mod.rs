//! Graph operations unlearning needs (in progress).
