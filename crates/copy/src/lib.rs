pub mod manifest;
pub mod plan;
pub mod script;
pub mod verify;
