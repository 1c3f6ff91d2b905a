//! Unit tests of device planning.
