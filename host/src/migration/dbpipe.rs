//! A migration's database dump streamed from the source server straight
//! into the destination's loader, through the one server-to-server pipe
//! (`migrate_remote::pipe`): a temporary key, registered for `migrate
//! cleanup` before it exists and removed after; relayed through this
//! machine when the servers cannot reach each other, and the route says so.

use migrate_remote::{Host, HostSpec, JobId, Pipe};

pub use migrate_remote::Route;

/// Stream `dump` (run on src) into `load` (run on dst); returns the bytes
/// moved and the route taken.
pub async fn stream(
    src: &Host,
    dst: &Host,
    _specs: (&HostSpec, &HostSpec),
    job_id: &str,
    dump: &str,
    load: &str,
) -> Result<(u64, Route), String> {
    let job = JobId::sanitized(job_id);
    migrate_remote::pipe::run(&Pipe::new(src, dst, job, dump, load))
        .await
        .map(|t| (t.bytes, t.route))
        .map_err(|e| e.to_string())
}
