//! Unit tests of the filesystem commands.
