//! The command line of `maestro` as a library: the parser (so tests and tools check commands
//! against the real one) and the reading of commands out of suggestions.

pub mod cli;
pub mod suggest;
