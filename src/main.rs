//! The binary: everything is in the library's [`dynamic_mcp_server::process`],
//! which says why.

use std::process::ExitCode;

fn main() -> ExitCode {
    dynamic_mcp_server::process::main()
}
