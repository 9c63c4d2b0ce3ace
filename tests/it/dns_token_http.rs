//! A DNS provider's API token never travels over plain http to another
//! host: `migrate dns` refuses such an API URL, says why and what to use,
//! and sends nothing (a listener on this machine, which plain http to a
//! non-loopback name for it would reach, sees no connection). Plain http to
//! this machine itself stays allowed (a local PowerDNS, the tests' fakes).

use std::net::TcpListener;

use crate::support::cli::{migrate, run, stderr};

#[test]
fn an_api_token_is_refused_over_plain_http_to_another_host() {
    let home = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = "tok-never-sent-0123456789";
    // 0.0.0.0 is not loopback by name, but a connection to it lands on
    // this machine's listener: a token sent anyway would be seen here.
    for (provider, var) in [
        ("gandi", "MIGRATE_GANDI_TOKEN"),
        ("desec", "MIGRATE_DESEC_TOKEN"),
    ] {
        let url = format!("http://0.0.0.0:{port}/api");
        let o = run(migrate(home.path())
            .args(["dns", "plan", "--domain", "example.test"])
            .args([
                "--provider",
                provider,
                "--api-url",
                &url,
                "--source",
                "provider",
            ])
            .env(var, token));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{provider}: {err}");
        assert!(
            err.contains("refusing to send the API token over plain http to 0.0.0.0")
                && err.contains(&format!("use https://0.0.0.0:{port}/api")),
            "{provider}: {err}"
        );
        assert!(!err.contains(token), "{err}");
        assert!(
            listener.accept().is_err(),
            "{provider}: a connection reached the listener"
        );
    }
}
