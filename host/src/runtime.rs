//! The one tokio runtime builder: every command that talks to servers
//! (copy, docker, dns, mail, a migration's two sides) runs its async work
//! on a runtime built here, so they all behave alike.

/// A multi-threaded runtime with I/O and timers. The work is waiting on
/// ssh, IMAP, DNS and HTTP far more than computing, so a worker per core
/// (at least two, so one slow task never starves the rest) is plenty.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
        .max(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("migrate-rt")
        .enable_all()
        .build()
}
