//! The `ifru` command.

use std::process::ExitCode;

use clap::Parser;

use ifru_cli::app::{Cli, run_parsed};
use ifru_cli::commands as cli;

fn main() -> ExitCode {
    exit_quietly_on_closed_pipe();
    match run_parsed(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut shown = e.to_string();
            eprintln!("error: {shown}");
            let mut source = e.source();
            while let Some(s) = source {
                // Most messages already end with their cause's: print only what is new.
                let text = s.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown = text;
                }
                source = s.source();
            }
            if let Some(hint) = e
                .downcast_ref::<ifru::Error>()
                .and_then(cli::common::flag_hint)
            {
                eprintln!("  hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `ifru info | head -1` closes the pipe after one line. Rust ignores SIGPIPE, so the next
/// `println!` panics on the broken pipe; a command-line tool should end quietly there, as
/// every Unix tool does, so SIGPIPE gets its default action back.
#[cfg(unix)]
fn exit_quietly_on_closed_pipe() {
    // SAFETY: `signal` with `SIG_DFL` only resets one signal's disposition; it runs first in
    // `main`, before any thread exists, and installs no handler that could run Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn exit_quietly_on_closed_pipe() {}
