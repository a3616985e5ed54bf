//! The `ifru` command.

use std::process::ExitCode;

use clap::Parser;

use ifru_cli::app::{Cli, run_parsed};
use ifru_cli::commands as cli;

fn main() -> ExitCode {
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
