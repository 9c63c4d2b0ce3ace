//! After a start: read the containers' logs for permission errors (the usual
//! sign of files copied with the wrong numeric owner).

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use serde::Serialize;

use crate::conn::DockerHost;
use crate::error::DockerError;

/// Phrases that mean "the process could not touch a file".
const PATTERNS: &[&str] = &[
    "permission denied",
    "operation not permitted",
    "eacces",
    "eperm",
    "read-only file system",
    "must be owned by",
    "insufficient permissions",
    "access denied for",
];

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub container: String,
    pub line: String,
}

pub fn is_permission_error(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    PATTERNS.iter().any(|p| l.contains(p))
}

/// Scan the last `tail` lines of each container's stdout and stderr.
pub async fn scan(
    dh: &DockerHost,
    containers: &[String],
    tail: usize,
) -> Result<Vec<Finding>, DockerError> {
    let mut out = Vec::new();
    for c in containers {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let mut s = dh.docker.logs(c, Some(opts));
        let mut text = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message },
                ) => text.extend_from_slice(&message),
                Ok(LogOutput::StdIn { .. }) => {}
                Err(e) => return Err(dh.api_err(format!("reading the logs of {c}"), e)),
            }
        }
        for line in String::from_utf8_lossy(&text).lines() {
            if is_permission_error(line) {
                out.push(Finding {
                    container: c.clone(),
                    line: line.trim().to_string(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognises_permission_errors() {
        assert!(super::is_permission_error(
            "open /data/x: Permission denied"
        ));
        assert!(super::is_permission_error("chown: Operation not permitted"));
        assert!(!super::is_permission_error("listening on 127.0.0.2:3000"));
    }
}
