//! What tests start from on this machine: the workspace's paths, wasm
//! builds of fixture and scaffolded plugins, loopback ports no other test of
//! this run holds, certificates signed by a throwaway CA, and the text of a
//! data directory (to prove no secret was stored).

use std::collections::HashSet;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Workspace root (for plugin sources, recipes, examples, lab scripts).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory for this build.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Build a standalone wasm32-wasip2 crate or workspace (fixtures, scaffolded
/// plugins) into a shared target dir, so repeated runs reuse the build.
/// Returns the release output directory.
pub fn build_wasm(manifest: &Path) -> PathBuf {
    let target = target_dir().join("test-plugins");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("spawn cargo");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("wasm32-wasip2").join("release")
}

/// Ports handed out in this run: the tests share one process, and a port
/// probed free but not yet bound by its server must not go to another test.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Where ports are picked: below Linux's ephemeral range (32768-60999),
/// so no outgoing connection holds the port a server is about to bind.
const PORTS: std::ops::Range<u16> = 20000..32000;

/// A port free for TCP and UDP on every given loopback address (the lab's
/// servers share this machine's network: 127.0.0.2 and 127.0.0.3 too), and
/// never handed out before in this run.
pub fn free_port(addrs: &[&str]) -> u16 {
    let mut given = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let span = PORTS.end - PORTS.start;
    // Each process starts elsewhere in the range (other test runs share
    // this machine), then walks on from the ports it handed out.
    let start = (std::process::id() as u64 * 7919 + given.len() as u64 * 13) % span as u64;
    for i in 0..span {
        let port = PORTS.start + ((start as u16).wrapping_add(i)) % span;
        if given.contains(&port) {
            continue;
        }
        let free = addrs
            .iter()
            .all(|a| TcpListener::bind((*a, port)).is_ok() && UdpSocket::bind((*a, port)).is_ok());
        if free {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port on {addrs:?}");
}

/// Run a local tool; panic with its stderr when it fails.
pub fn sh(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority made with openssl in `dir` (`ca.pem`, `ca.key`),
/// for servers whose certificates the tool must check.
pub struct Ca {
    dir: PathBuf,
}

/// A server certificate and its key, signed by a [`Ca`].
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        std::fs::create_dir_all(dir).expect("certificate dir");
        let ca = Ca {
            dir: dir.to_path_buf(),
        };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        ca
    }

    pub fn pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for `name` with these subjectAltNames (e.g.
    /// `DNS:localhost,IP:127.0.0.1`), in `NAME.pem` and `NAME.key`. It is a
    /// leaf (CA:FALSE, serverAuth): rustls refuses a CA certificate as a
    /// server's (facts/dns-mail.md B4.10).
    pub fn leaf(&self, name: &str, alt_names: &str) -> Leaf {
        let ext = format!("{name}.ext");
        std::fs::write(
            self.dir.join(&ext),
            format!(
                "subjectAltName={alt_names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("ext");
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ]);
        Leaf {
            cert: self.dir.join(pem),
            key: self.dir.join(key),
        }
    }

    fn openssl(&self, args: &[&str]) {
        sh(Command::new("openssl").args(args).current_dir(&self.dir));
    }
}

impl Leaf {
    /// `AA:BB:…`, the SHA-256 fingerprint of the certificate (openssl's output).
    pub fn fingerprint(&self) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&self.cert)
            .output()
            .expect("openssl");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .rsplit('=')
            .next()
            .expect("fingerprint")
            .to_string()
    }
}

/// Everything under a directory, as text (to prove no secret was stored).
pub fn all_files_text(dir: &Path) -> String {
    let mut s = String::new();
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                s.push_str(&t);
            }
        }
    }
    s
}
