//! The offline commands through the `lxops-incus` binary.

#[path = "../../offline_commands.rs"]
mod offline_commands;

#[test]
fn offline_commands_work_on_the_demo_config() {
    offline_commands::check(env!("CARGO_BIN_EXE_lxops-incus"));
}
