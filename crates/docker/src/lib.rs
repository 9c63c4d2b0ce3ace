//! migrate-docker: docker through the docker API over ssh. Inventory,
//! stop/start in dependency order, swarm scale-down and back, volume moves
//! with the copy engine, whole docker-root moves, database dumps piped into
//! containers, and numeric ownership checks.

pub mod conn;
pub mod daemon;
pub mod db;
pub mod error;
pub mod inventory;
pub mod lifecycle;
pub mod logs;
pub mod owners;
pub mod root;
pub mod volume;

pub use conn::DockerHost;
pub use error::DockerError;
