//! End-to-end tests against real daemons.

mod backend;
mod cli;
mod cloudconfig;
mod commands;
mod devices;
mod fscommands;
mod host;
mod lifecycle;
mod remote;
mod safety;
