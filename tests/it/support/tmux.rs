//! A terminal for tests that need one (bars, prompts): a tmux server of the
//! test's own on a private socket, so only it is ever killed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// A detached 220x40 session `t` running `script` (through a shell),
    /// its socket in `dir`.
    pub fn start(dir: &Path, script: &str) -> Tmux {
        let t = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let st = t
            .cmd()
            .args(["new-session", "-d", "-s", "t", "-x", "220", "-y", "40"])
            .arg(script)
            .env_remove("NO_COLOR")
            .status()
            .expect("tmux");
        assert!(st.success(), "tmux did not start");
        t
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    /// What the pane shows now, wrapped lines joined.
    pub fn capture(&self) -> String {
        self.capture_from(None)
    }

    /// Everything the pane has shown, its scrollback included.
    pub fn capture_all(&self) -> String {
        self.capture_from(Some("-"))
    }

    fn capture_from(&self, start: Option<&str>) -> String {
        let mut c = self.cmd();
        c.args(["capture-pane", "-p", "-J", "-t", "t"]);
        if let Some(s) = start {
            c.args(["-S", s]);
        }
        let o = c.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Type `text` and Enter.
    pub fn answer(&self, text: &str) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", "t", text, "Enter"])
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    /// The pane once it shows `text`; panics with the pane after `limit`.
    pub fn wait_for(&self, text: &str, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            let pane = self.capture_all();
            if pane.contains(text) {
                return pane;
            }
            assert!(
                started.elapsed() < limit,
                "{text:?} did not show within {limit:?}; the pane shows:\n{pane}"
            );
            sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}
