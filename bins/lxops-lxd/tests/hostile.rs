//! The hostile-input corpus through the `lxops-lxd` binary.

#[path = "../../hostile_inputs.rs"]
mod hostile_inputs;

#[test]
fn hostile_inputs_are_refused_with_exit_2_naming_the_file() {
    hostile_inputs::check(env!("CARGO_BIN_EXE_lxops-lxd"));
}
