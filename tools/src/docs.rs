//! The documentation generated from the clap definition: shell completion scripts and
//! man pages.

use crate::cli::{Cli, CompletionShell};
use crate::fail::{Fail, Res};
use clap::CommandFactory;
use std::io;
use std::path::Path;

/// `completions`: the script for `shell` on stdout.
pub(crate) fn completions(shell: CompletionShell) -> Res {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "ephpm-shm",
        &mut io::stdout().lock(),
    );
    Ok(())
}

/// Renders the man pages from the clap definition: `ephpm-shm.1`, then
/// `ephpm-shm-<subcommand>.1` for each visible subcommand (as git and
/// cargo name theirs), so each command's options are documented.
pub(crate) fn man_pages(out_dir: &Path) -> Res {
    let cmd = Cli::command();
    let write = |file: String, page: clap::Command| -> Res {
        let path = out_dir.join(file);
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf)?;
        std::fs::write(&path, buf)
            .map_err(|e| Fail::other(format!("writing {}: {e}", path.display())))
    };
    std::fs::create_dir_all(out_dir)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ephpm-shm-{}", sub.get_name());
        // The page's NAME and SYNOPSIS say `ephpm-shm-stats`, as `man git-log` does.
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("ephpm-shm {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        write(format!("{name}.1"), page)?;
    }
    write("ephpm-shm.1".to_owned(), cmd)
}
