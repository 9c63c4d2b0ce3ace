//! Plugin failures, always naming the plugin. A trap is a bug in the plugin;
//! a refusal is an answer, and is not an error here.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin named {id:?}{}", suggestion(.suggestions))]
    Unknown {
        id: String,
        suggestions: Vec<String>,
    },

    #[error(
        "the user plugin {} has the name of the built-in plugin {id:?} and is not used in its place; \
         pass --allow-plugin-override {id} to run it instead of the built-in (the plan then shows its sha256), \
         or rename or remove the file to use the built-in",
        path.display()
    )]
    Override { id: String, path: PathBuf },

    #[error("plugin {id:?} ({origin}) could not be read: {source}")]
    Read {
        id: String,
        origin: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "plugin {id:?} ({origin}) is a core WebAssembly module, not a component; \
         build it with `cargo build --release --target wasm32-wasip2`"
    )]
    CoreModule { id: String, origin: String },

    #[error("plugin {id:?} ({origin}) is not a WebAssembly component: {detail}")]
    NotWasm {
        id: String,
        origin: String,
        detail: String,
    },

    #[error(
        "plugin {id:?} ({origin}) does not implement {contract}: {detail}; \
         rebuild it against {newest} (see `migrate plugin new`)"
    )]
    WrongWorld {
        id: String,
        origin: String,
        /// What it was checked against: its own contract when its exports
        /// name one, else every contract the host loads.
        contract: String,
        newest: &'static str,
        detail: String,
    },

    #[error(
        "plugin {id:?} ran past its execution budget in {func} (an endless loop?); \
         the host stopped it"
    )]
    OutOfFuel { id: String, func: &'static str },

    #[error(
        "plugin {id:?} tried to use {wanted} MiB of memory in {func}, over the {limit} MiB limit; \
         the host stopped it"
    )]
    OutOfMemory {
        id: String,
        func: &'static str,
        wanted: u64,
        limit: u64,
    },

    #[error(
        "plugin {id:?} asks for more than the sandbox allows in {func} ({detail}); \
         a plugin may have {memories} memory of at most {limit} MiB, {tables} tables and \
         {instances} instances, and the host refused to start it"
    )]
    OverLimits {
        id: String,
        func: &'static str,
        detail: String,
        memories: usize,
        tables: usize,
        instances: usize,
        limit: u64,
    },

    #[error("plugin {id:?} crashed in {func}: {detail}")]
    Trap {
        id: String,
        func: &'static str,
        detail: String,
    },

    #[error("plugin {id:?} answered {func} with something invalid: {detail}")]
    Invalid {
        id: String,
        func: &'static str,
        detail: String,
    },

    #[error("plugin directory {path} could not be listed: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the plugin engine could not start: {0}")]
    Engine(String),
}

fn suggestion(s: &[String]) -> String {
    match s.len() {
        0 => String::new(),
        _ => format!("; did you mean {}?", s.join(" or ")),
    }
}
