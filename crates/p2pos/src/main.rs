//! `p2pos`: the command line. Parses, loads, dispatches; the work lives in the library crates.

mod chat_cmd;
mod cli;
mod crypt_cmd;
mod drop_cmd;
mod export_cmd;
mod id_cmd;
mod node_cmd;
mod passphrase;
mod peer_cmd;
mod record_cmd;
mod signal_cmd;
mod up_cmd;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Id(cmd) => id_cmd::run(cmd),
        Command::Record(cmd) => record_cmd::run(cmd),
        Command::Encrypt(args) => crypt_cmd::encrypt(args),
        Command::Decrypt(args) => crypt_cmd::decrypt(args),
        Command::Node(args) => node_cmd::run(*args),
        Command::Signal(args) => signal_cmd::run(*args),
        Command::Export(args) => export_cmd::run(args),
        Command::Up(args) => up_cmd::run(args),
        Command::Enroll(args) => peer_cmd::enroll(args),
        Command::Peer(cmd) => peer_cmd::run(cmd),
        Command::Send(args) => drop_cmd::send(args),
        Command::Receive(args) => drop_cmd::receive(args),
        Command::Chat(args) => chat_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, with the chain of causes: "error: reading x: permission denied".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
