//! TLS to PostgreSQL: against a real cluster with `ssl=on` and a certificate made for the
//! test (see `maestro_tests::postgres::Tls`), `sslmode=require` encrypts (the server's
//! `pg_stat_ssl` says so), a root certificate verifies the server, and every refusal is a
//! `storage_error` that says why.

use maestro_core::{Code, Maestro};
use maestro_tests::postgres::{Postgres, certificate_authority};
use maestro_tests::sandbox;

async fn started(tls: bool) -> Postgres {
    tokio::task::spawn_blocking(move || {
        if tls {
            Postgres::start_tls()
        } else {
            Postgres::start()
        }
    })
    .await
    .expect("start PostgreSQL")
}

/// Connections of the store (application `maestro`) that are, and that are not, encrypted.
fn maestro_connections(pg: &Postgres) -> (i64, i64) {
    let count = |ssl: bool| {
        pg.count(
            "postgres",
            &format!(
                "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE a.application_name = 'maestro' AND s.ssl = {ssl}"
            ),
        )
    };
    (count(true), count(false))
}

/// The first operation of a store on `url`, which connects (and migrates).
async fn first_call(url: &str) -> maestro_core::Result<Maestro> {
    let m = Maestro::open(url)?;
    m.list_projects().await?;
    Ok(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_and_the_server_sees_it() {
    let pg = started(true).await;
    let url = pg.create_database("maestro");
    let m = first_call(&format!("{url}?sslmode=require")).await.unwrap();
    m.create_project(&Default::default(), "tls", true)
        .await
        .unwrap();
    let (encrypted, plain) = maestro_connections(&pg);
    assert!(encrypted >= 1, "no encrypted connection of the store");
    assert_eq!(plain, 0, "a connection of the store is not encrypted");
    // `prefer` (the default) encrypts too when the server offers TLS.
    drop(m);
    let m = first_call(&url).await.unwrap();
    m.list_projects().await.unwrap();
    assert_eq!(
        maestro_connections(&pg).1,
        0,
        "prefer fell back to plain TCP"
    );
    // `disable` does not.
    drop(m);
    let m = first_call(&format!("{url}?sslmode=disable")).await.unwrap();
    m.list_projects().await.unwrap();
    assert!(maestro_connections(&pg).1 >= 1, "disable encrypted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_certificate_verifies_the_server_and_a_wrong_one_is_refused_clearly() {
    let pg = started(true).await;
    let url = pg.create_database("maestro");
    let root = pg.root_cert().unwrap().display().to_string();
    // The certificate is for localhost: verify-ca checks the chain only, so 127.0.0.1 passes.
    first_call(&format!("{url}?sslmode=verify-ca&sslrootcert={root}"))
        .await
        .unwrap();
    first_call(&format!("{url}?sslmode=require&sslrootcert={root}"))
        .await
        .unwrap();
    // verify-full checks the name too: 127.0.0.1 is not localhost.
    let Err(e) = first_call(&format!("{url}?sslmode=verify-full&sslrootcert={root}")).await else {
        panic!("a certificate for another name was accepted");
    };
    assert_eq!(e.code(), Code::StorageError);
    assert!(e.message().contains("certificate"), "{}", e.message());
    let by_name = url.replace("127.0.0.1", "localhost");
    first_call(&format!("{by_name}?sslmode=verify-full&sslrootcert={root}"))
        .await
        .unwrap();
    // A root certificate that did not sign the server's: refused, whatever the mode.
    let other = tempfile::tempdir().unwrap();
    let (wrong, _) = certificate_authority(other.path(), "other");
    for mode in ["require", "verify-ca", "verify-full"] {
        let e = first_call(&format!(
            "{by_name}?sslmode={mode}&sslrootcert={}",
            wrong.display()
        ))
        .await
        .err()
        .unwrap_or_else(|| panic!("{mode} with the wrong root certificate connected"));
        assert_eq!(e.code(), Code::StorageError, "{mode}");
        assert!(
            e.message().contains("cannot reach the database")
                && e.message().contains("certificate"),
            "{mode}: {}",
            e.message()
        );
        assert!(
            e.suggestion().unwrap_or("").contains("root certificate"),
            "{mode}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_against_a_server_without_tls_fails_clearly() {
    let pg = started(false).await;
    let url = pg.create_database("maestro");
    let Err(e) = first_call(&format!("{url}?sslmode=require")).await else {
        panic!("require connected without TLS");
    };
    assert_eq!(e.code(), Code::StorageError);
    assert!(e.message().contains("TLS"), "{}", e.message());
    assert!(e.suggestion().unwrap_or("").contains("ssl=on"), "{e:?}");
    // prefer falls back to plain TCP.
    first_call(&format!("{url}?sslmode=prefer")).await.unwrap();
}

/// The settings reach the CLI: MAESTRO_PG_SSLMODE and MAESTRO_PG_SSLROOTCERT.
#[test]
fn the_cli_verifies_the_server_with_the_root_certificate_of_its_settings() {
    let pg = Postgres::start_tls();
    let url = pg
        .create_database("maestro")
        .replace("127.0.0.1", "localhost");
    let root = pg.root_cert().unwrap().display().to_string();
    let sb = sandbox!();
    let env = [
        ("MAESTRO_DB", url.as_str()),
        ("MAESTRO_PG_SSLMODE", "verify-full"),
        ("MAESTRO_PG_SSLROOTCERT", root.as_str()),
    ];
    sb.ok_with(&env, &["init", "--name", "tls"]);
    let status = sb.ok_with(&env, &["status"]);
    assert_eq!(status["tasks"]["total"], 0, "{status}");
    let other = tempfile::tempdir().unwrap();
    let (wrong, _) = certificate_authority(other.path(), "other");
    let wrong = wrong.display().to_string();
    let env = [
        ("MAESTRO_DB", url.as_str()),
        ("MAESTRO_PG_SSLMODE", "verify-full"),
        ("MAESTRO_PG_SSLROOTCERT", wrong.as_str()),
    ];
    let e = sb.fails_with(&env, &["status"], "storage_error", 1);
    assert!(
        e["message"].as_str().unwrap_or("").contains("certificate"),
        "{e}"
    );
}
