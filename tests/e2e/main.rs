//! End-to-end tests against real daemons.

mod backend;
mod cli;
mod cloudconfig;
mod cluster;
mod commands;
mod compat;
mod devices;
mod embed;
mod faults;
mod fleet;
mod fscommands;
mod host;
mod https;
mod images;
mod interrupt;
mod lifecycle;
mod output;
mod remote;
mod safety;
mod transfer;
mod volumes;
