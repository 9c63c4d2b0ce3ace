//! What lives around a discovered Nextcloud moves with it: a cron file
//! naming its directory is commented out on the source when the window
//! opens (and back after an abort), carried and active on the destination;
//! certbot's live/ (symlinks kept), archive/ and renewal/ entries for the
//! domain arrive before the window, and the destination serves that
//! certificate for the production name, checked here with SNI by
//! `openssl s_client` against dst's address, not by the tool's report.
//! Unrelated cron files stay where they are.

use std::ops::Deref;
use std::process::Command;

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::Ca;
use crate::support::lab::{self, Need, ok, put};
use crate::support::nc_plain::{PhpShim, PlainNc};

/// The stand-in Nextcloud (support::nc_plain) with a cron file naming its
/// directory and an unrelated one; their files and certbot's entries for
/// the domain are removed from both servers afterwards.
struct Install {
    nc: PlainNc,
    cron: String,
    other: String,
}

impl Deref for Install {
    type Target = PlainNc;
    fn deref(&self) -> &PlainNc {
        &self.nc
    }
}

impl Install {
    fn new() -> Install {
        let pid = std::process::id();
        let i = Install {
            nc: PlainNc::install(
                &format!("/var/www/around-{pid}"),
                &format!("around_{pid}"),
                &format!("a{pid}.around.test"),
            ),
            cron: format!("/etc/cron.d/around-nextcloud-{pid}"),
            other: format!("/etc/cron.d/around-other-{pid}"),
        };
        ok(
            "src",
            &format!(
                "printf '# Nextcloud background jobs\\n*/5 * * * * www-data php -f {r}/cron.php\\n' > {c} && printf '0 3 * * * root /usr/local/bin/backup-something\\n' > {o} && chmod 644 {c} {o}",
                r = i.root,
                c = i.cron,
                o = i.other
            ),
        );
        i
    }

    /// certbot's layout for the domain on src, from a lab CA's leaf.
    fn certbot(&self, ca: &Ca) {
        let leaf = ca.leaf(&self.domain, &format!("DNS:{}", self.domain));
        let read = |p: &std::path::Path| std::fs::read(p).expect("certificate file");
        let (cert, key, chain) = (read(&leaf.cert), read(&leaf.key), read(&ca.pem()));
        let full = [cert.clone(), chain.clone()].concat();
        let d = &self.domain;
        put(
            "src",
            &format!("/etc/letsencrypt/archive/{d}"),
            &[
                ("cert1.pem", &cert, "644"),
                ("chain1.pem", &chain, "644"),
                ("fullchain1.pem", &full, "644"),
                ("privkey1.pem", &key, "600"),
            ],
        );
        ok(
            "src",
            &format!(
                "mkdir -p /etc/letsencrypt/live/{d} /etc/letsencrypt/renewal && cd /etc/letsencrypt/live/{d} && for f in cert chain fullchain privkey; do ln -sfn ../../archive/{d}/${{f}}1.pem $f.pem; done && printf 'version = 2.1.0\\narchive_dir = /etc/letsencrypt/archive/{d}\\ncert = /etc/letsencrypt/live/{d}/cert.pem\\nprivkey = /etc/letsencrypt/live/{d}/privkey.pem\\nchain = /etc/letsencrypt/live/{d}/chain.pem\\nfullchain = /etc/letsencrypt/live/{d}/fullchain.pem\\n\\n[renewalparams]\\nauthenticator = webroot\\n' > /etc/letsencrypt/renewal/{d}.conf"
            ),
        );
    }

    /// The certificate files as certbot sees them: links and contents.
    fn certs(&self, host: &str) -> String {
        let d = &self.domain;
        ok(
            host,
            &format!(
                "cd /etc/letsencrypt && for f in live/{d}/*.pem; do echo \"$f -> $(readlink $f)\"; done && find archive/{d} renewal/{d}.conf -type f -printf '%p %m\\n' | sort && sha256sum archive/{d}/* renewal/{d}.conf"
            ),
        )
    }

    fn cron_text(&self, host: &str, path: &str) -> String {
        ok(host, &format!("stat -c '%U %a' {path} && cat {path}"))
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        let script = format!(
            "test -f {b}/tls.pid && kill $(cat {b}/tls.pid) 2>/dev/null; rm -f {c} {o}; rm -rf /etc/letsencrypt/live/{d} /etc/letsencrypt/archive/{d} /etc/letsencrypt/renewal/{d}.conf; rmdir /etc/letsencrypt/live /etc/letsencrypt/archive /etc/letsencrypt/renewal /etc/letsencrypt 2>/dev/null; true",
            b = self.base,
            c = self.cron,
            o = self.other,
            d = self.domain,
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(h, &script);
        }
    }
}

/// The journal directory (in `op`'s home) of the one migration there.
fn journal_dir(op: &Operator) -> std::path::PathBuf {
    op.journal().parent().expect("journal dir").to_path_buf()
}

#[test]
fn cron_and_certificates_move_with_the_app() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let _php = PhpShim::install(".php-around-shim");
    let i = Install::new();
    let certs_dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(certs_dir.path(), "around lab CA");
    i.certbot(&ca);
    let op = Operator::new();
    i.file(&op);
    let cron_before = i.cron_text("src", &i.cron);
    let other_before = i.cron_text("src", &i.other);
    let certs_before = i.certs("src");

    let o = op.with_file(&["app", "plan"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.contains(&format!(
            "Disable on the source, while the window is open, the cron lines naming {} in {}",
            i.root, i.cron
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("Carry certbot's certificate for {}", i.domain)),
        "{out}"
    );
    assert!(!out.contains(&i.other), "an unrelated cron file: {out}");

    // In the window: the source's cron line is commented out, the
    // certificate is on dst already, and dst serves it for the name.
    i.file(&op);
    crate::support::cli::Operator::kill_at(&op, "final-sync");
    let cron_window = i.cron_text("src", &i.cron);
    assert!(
        cron_window.contains(&format!(
            "\n#migrate-disabled */5 * * * * www-data php -f {}/cron.php\n",
            i.root
        )),
        "{cron_window}"
    );
    assert!(
        cron_window.contains("\n# Nextcloud background jobs\n"),
        "{cron_window}"
    );
    assert_eq!(i.cron_text("src", &i.other), other_before);
    assert_eq!(i.certs("dst"), certs_before, "the certificate files on dst");
    let tls_port = lab::port();
    let d = &i.domain;
    ok(
        "dst",
        &format!(
            "cd /etc/letsencrypt/live/{d} && (openssl s_server -quiet -accept 127.0.0.3:{tls_port} -cert fullchain.pem -key privkey.pem -www > /dev/null 2>&1 < /dev/null & echo $! > {b}/tls.pid) && for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.3/{tls_port}) 2>/dev/null && exit 0; sleep 0.1; done; exit 1",
            b = i.base
        ),
    );
    let sni = |name: &str| {
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.3:{tls_port}"),
                "-servername",
                name,
                "-verify_hostname",
                name,
                "-verify_return_error",
                "-CAfile",
            ])
            .arg(ca.pem())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client")
    };
    let o = sni(d);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        o.status.success() && text.contains("Verify return code: 0 (ok)"),
        "{text}"
    );
    // The check can fail: another name is refused by the same server.
    let o = sni("other.around.test");
    assert!(!o.status.success(), "a wrong name verified");
    ok(
        "dst",
        &format!("kill $(cat {}/tls.pid) && rm -f {}/tls.pid", i.base, i.base),
    );

    // Abort by domain: the cron line is back as it was.
    let o = op
        .migrate()
        .args(["app", "abort", "--domain", d])
        .output()
        .expect("abort");
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("restored on the source: cron lines naming"),
        "{}",
        stdout(&o)
    );
    assert_eq!(i.cron_text("src", &i.cron), cron_before, "restored");

    // The whole move, again from the start (the aborted journal set
    // aside, the destination's partial copy moved aside by --force).
    let dir = journal_dir(&op);
    std::fs::rename(&dir, dir.with_extension("aborted")).expect("set the journal aside");
    let o = op.app(&["--force"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        i.cron_text("dst", &i.cron),
        cron_before,
        "the cron file active on dst, same owner and mode"
    );
    assert!(
        i.cron_text("src", &i.cron).contains("#migrate-disabled "),
        "the retired source's line stays disabled"
    );
    assert!(
        !lab::sh("dst", &format!("test -e {}", i.other))
            .status
            .success(),
        "an unrelated cron file was carried"
    );
    assert_eq!(i.certs("dst"), certs_before);
}
