//! The lxops binary: wires a backend, the registered migrators and the shared CLI together.
fn main() {}
