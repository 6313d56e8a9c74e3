//! `ephpm-shm`: inspect and administer ephpm shared-memory key-value stores.
//!
//! This file parses the command line and hands each subcommand to the module that holds it.

mod admin;
mod cli;
mod docs;
mod fail;
mod inspect;
mod output;
mod segment;
mod serve;
mod session;
mod stats;
mod watch;
mod write;

use clap::Parser;
use cli::{Cli, Cmd, Format};
use fail::Res;
use segment::attach;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("ephpm-shm: {}", f.msg);
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Res {
    let default = cli.dir.is_none();
    let dir = &cli.dir.unwrap_or_else(shm_store::default_dir);
    match cli.command {
        Cmd::List { json } => inspect::list(dir, json, default),
        Cmd::Stats { name, json, format } => {
            let store = attach(dir, &name)?;
            let format = if json { Format::Json } else { format };
            stats::stats(&store, &name, format)
        }
        Cmd::Keys {
            name,
            pattern,
            limit,
        } => inspect::keys(&attach(dir, &name)?, pattern.as_deref(), limit),
        Cmd::Get {
            name,
            key,
            json,
            hex,
        } => inspect::get(&attach(dir, &name)?, &name, &key, json, hex),
        Cmd::Ttl { name, key, ms } => inspect::ttl(&attach(dir, &name)?, &name, &key, ms),
        Cmd::Set {
            name,
            key,
            value,
            ttl,
        } => write::set(&attach(dir, &name)?, &key, value, ttl),
        Cmd::Del { name, key } => write::del(&attach(dir, &name)?, &name, &key),
        Cmd::Expire { name, key, secs } => write::expire(&attach(dir, &name)?, &name, &key, secs),
        Cmd::Verify { name, repair } => {
            let store = attach(dir, &name)?;
            if repair {
                admin::repair(&store, &name)
            } else {
                admin::verify(&store, &name)
            }
        }
        Cmd::Flush { name, yes } => write::flush(&attach(dir, &name)?, &name, yes),
        Cmd::Create {
            name,
            size,
            eviction,
            stripes,
            compression,
            compression_level,
            compression_min_size,
        } => admin::create(
            dir,
            &name,
            &size,
            eviction.as_deref(),
            stripes,
            admin::CompressionArgs {
                codec: compression.as_deref(),
                level: compression_level,
                min_size: compression_min_size.as_deref(),
            },
        ),
        Cmd::Rm { name, force } => admin::rm(dir, &name, force),
        Cmd::Session { name, sid, prefix } => {
            inspect::show_session(&attach(dir, &name)?, &name, &sid, &prefix)
        }
        Cmd::Serve {
            name,
            listen,
            unix,
            requirepass,
            requirepass_file,
            insecure_open_to_local_users,
            limits,
        } => serve::serve(
            dir,
            &name,
            serve::Options {
                listen,
                unix,
                requirepass,
                requirepass_file,
                insecure_open_to_local_users,
            },
            limits,
        ),
        Cmd::Watch { name } => {
            let store = attach(dir, &name)?;
            Ok(watch::run(&store, &name)?)
        }
        Cmd::Completions { shell } => docs::completions(shell),
        Cmd::Man { out_dir } => docs::man_pages(&out_dir),
    }
}
