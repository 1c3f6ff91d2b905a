//! End-to-end tests against real daemons.

mod host;
