//! A throwaway PostgreSQL cluster for test scripts (`scripts/test-python`,
//! `scripts/test-node`): starts one as the end-to-end tests do (`maestro_tests::postgres`),
//! creates database `maestro`, prints its URL on one line, and stops and removes the cluster
//! when its standard input closes — when the script that started it exits, however it exits.
//!
//! Run: `cargo run -p maestro-tests --bin test-postgres` (the URL is the first line out).

use maestro_tests::postgres::Postgres;
use std::io::{Read, Write};

fn main() {
    let pg = Postgres::start();
    let url = pg.create_database("maestro");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{url}")
            .and_then(|()| out.flush())
            .expect("print the URL");
    }
    // Until the other end goes away: EOF, or an error reading.
    let mut sink = [0u8; 64];
    while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
    drop(pg);
}
