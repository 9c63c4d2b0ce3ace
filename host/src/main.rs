use std::process::ExitCode;

fn main() -> ExitCode {
    migrate::cli::main()
}
