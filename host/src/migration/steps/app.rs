//! The app's own lifecycle on each side: stop the source (the downtime
//! starts), deploy a destination stack, stop a freshly deployed destination
//! while its data comes in, start the destination. The commands are the
//! side's own (from the migration definition, or what its layout implies).

use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

pub enum Lifecycle {
    StopSource,
    Deploy,
    StopDestination,
    StartDestination,
}

impl Lifecycle {
    fn side(&self) -> Side {
        match self {
            Lifecycle::StopSource => Side::Source,
            _ => Side::Destination,
        }
    }
    fn command(&self, cx: &Cx) -> String {
        let m = &cx.plan.migration;
        match self {
            Lifecycle::StopSource => m.source.stop.clone(),
            Lifecycle::Deploy => m.destination.deploy.clone(),
            Lifecycle::StopDestination => m.destination.stop.clone(),
            Lifecycle::StartDestination => m.destination.start.clone(),
        }
        .unwrap_or_default()
    }
}

impl StepKind for Lifecycle {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let mut v = vec![Planned::on("command", self.side(), self.command(cx))];
        if let (Lifecycle::StartDestination, Some(addr)) =
            (self, cx.plan.migration.destination.http.as_deref())
        {
            v.push(Planned::operator(
                "wait",
                format!("wait up to 60 s for {addr} to accept connections"),
            ));
        }
        v
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let (what, done) = match self {
            Lifecycle::StopSource => ("stopping the app", "the source app is stopped"),
            Lifecycle::Deploy => ("deploying the app", "deployed on the destination"),
            Lifecycle::StopDestination => (
                "stopping the fresh app",
                "the destination's app services are stopped",
            ),
            Lifecycle::StartDestination => ("starting the app", "the destination app is started"),
        };
        x.run("command", what)?;
        if let Lifecycle::StartDestination = self
            && let Some(addr) = x.cx.plan.migration.destination.http.as_deref()
        {
            // Containers answer a moment after `up -d` returns; the test
            // plan right after must not count that as a failure.
            x.planned("wait")?;
            wait_for_port(addr, std::time::Duration::from_secs(60))?;
        }
        Ok(Outcome::plain(done))
    }
}

/// Wait until `addr` accepts TCP connections.
fn wait_for_port(addr: &str, within: std::time::Duration) -> Result<(), String> {
    let sock: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not ADDRESS:PORT"))?;
    let t = std::time::Instant::now();
    loop {
        match std::net::TcpStream::connect_timeout(&sock, std::time::Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) if t.elapsed() >= within => {
                return Err(format!(
                    "the app was started but nothing answers on {addr} after {} s ({e}); look at its logs on the destination",
                    within.as_secs()
                ));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(250)),
        }
    }
}
