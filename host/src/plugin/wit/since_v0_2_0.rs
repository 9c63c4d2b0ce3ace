//! Contract `migrate:recipe@0.2.0`, the newest: the host's own model. Its
//! types are the ones the rest of the host uses; older contracts are
//! adapted to them.

use super::super::engine::State;

wasmtime::component::bindgen!({
    path: "../wit/v0.2",
    world: "recipe-plugin",
});

use migrate::recipe::{log, planning, types};

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        self.log(level, &message);
    }
}

impl planning::Host for State {
    fn read_file(&mut self, side: types::Side, path: String) -> Result<String, String> {
        self.read_file(side, &path)
    }
}
