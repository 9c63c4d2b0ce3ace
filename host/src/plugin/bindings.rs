//! The only `bindgen!` of the contract. No implementations live here.

wasmtime::component::bindgen!({
    path: "../wit/v0.1",
    world: "recipe-plugin",
});
