//! Builders for steps and checks, so plugin code reads like a runbook.

use crate::{
    Action, CarrySetting, Command, Example, Expectation, HttpCheck, Phase, RefusalKind, Risk, Side,
    SmokeCheck, Step, TcpCheck,
};

/// A step: `id` is stable (the journal resumes on it), `title` is one
/// sentence a person understands.
pub fn step(id: &str, phase: Phase, risk: Risk, title: &str, action: Action) -> Step {
    Step {
        id: id.to_string(),
        phase,
        title: title.to_string(),
        risk,
        action,
    }
}

/// A command on a server (not in a container).
pub fn cmd(side: Side, argv: &[&str]) -> Command {
    Command {
        side,
        service: None,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        user: None,
        workdir: None,
    }
}

/// A command inside one of the app's services (containers).
pub fn in_service(side: Side, service: &str, argv: &[&str]) -> Command {
    Command {
        service: Some(service.to_string()),
        ..cmd(side, argv)
    }
}

impl Command {
    pub fn as_user(mut self, user: &str) -> Self {
        self.user = Some(user.to_string());
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
    pub fn workdir(mut self, dir: &str) -> Self {
        self.workdir = Some(dir.to_string());
        self
    }
}

pub fn exec(command: Command) -> Action {
    Action::Exec(command)
}

/// A human-only instruction.
pub fn manual(text: &str) -> Action {
    Action::Manual(text.to_string())
}

/// Carry a configuration value from the source to the destination.
pub fn carry(file: &str, key: &str, reason: &str, secret: bool) -> Action {
    Action::Carry(CarrySetting {
        file: file.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
        secret,
    })
}

/// An HTTP check: status, optionally body text and a JSON field.
pub fn http(path: &str, expect_status: u16) -> HttpCheck {
    HttpCheck {
        path: path.to_string(),
        expect_status,
        body_contains: None,
        json_field: None,
        headers: Vec::new(),
    }
}

impl HttpCheck {
    pub fn contains(mut self, text: &str) -> Self {
        self.body_contains = Some(text.to_string());
        self
    }
    pub fn json(mut self, field: &str, value: &str) -> Self {
        self.json_field = Some((field.to_string(), value.to_string()));
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub fn tcp(port: u16, banner_prefix: Option<&str>, tls: bool) -> Action {
    Action::Tcp(TcpCheck {
        port,
        banner_prefix: banner_prefix.map(str::to_string),
        tls,
    })
}

pub fn check(id: &str, title: &str, side: Side, action: Action) -> SmokeCheck {
    SmokeCheck {
        id: id.to_string(),
        title: title.to_string(),
        side,
        action,
    }
}

/// A declared example for `migrate plugin test`.
pub fn example(from: &str, to: &str, zero_downtime: bool, expect: Expectation) -> Example {
    Example {
        from: from.to_string(),
        to: to.to_string(),
        zero_downtime,
        expect,
    }
}

/// Expect these hop targets, in order (empty: nothing to upgrade).
pub fn hops(targets: &[&str]) -> Expectation {
    Expectation::Hops(targets.iter().map(|s| s.to_string()).collect())
}

/// Expect a refusal of this kind.
pub fn refused(kind: RefusalKind) -> Expectation {
    Expectation::Refused(kind)
}
