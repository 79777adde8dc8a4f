//! Thin entry point: parse argv, run the command, print an error once.

use git_credential_bitbucket::app;
use git_credential_bitbucket::cli::{self, Command};
use git_credential_bitbucket::commands;
use git_credential_bitbucket::config::ProcessEnv;
use git_credential_bitbucket::error::Error;
use git_credential_bitbucket::setup;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            git_credential_bitbucket::say!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run() -> Result<(), Error> {
    let env = ProcessEnv;
    match cli::parse(std::env::args_os().skip(1))? {
        // git never runs us with a terminal on stdin: a person typed an
        // unknown word, so say so (for git, unknown words stay silent).
        Command::Unknown(word) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            Err(Error::Usage(match cli::suggestion(&word) {
                Some(cmd) => format!("unknown command {word:?}; did you mean `{cmd}`?"),
                None => format!("unknown command {word:?}"),
            }))
        }
        // Not a terminal: git's rule says stay silent, since a newer git may
        // send words we do not know. A near miss of one of our commands is
        // a person's typo in a script, though: one line on stderr, which
        // git would show, and still nothing on stdout.
        Command::Unknown(word) => {
            match cli::suggestion(&word) {
                Some(cmd) => git_credential_bitbucket::say!("did you mean `{cmd}`?"),
                None => git_credential_bitbucket::trace!("ignoring unknown action {word:?}"),
            }
            Ok(())
        }
        Command::Protocol(action) => app::run(
            action,
            std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &env,
        ),
        Command::Login { url, no_browser } => {
            commands::login::run(url.as_deref(), no_browser, &env)
        }
        Command::Logout { url, account, all } => {
            commands::logout::run(url.as_deref(), account.as_deref(), all, &env)
        }
        Command::Status { url, json } => {
            commands::status::run(url.as_deref(), json, &mut std::io::stdout().lock(), &env)
        }
        Command::Switch { url, account } => commands::switch::run(url.as_deref(), &account, &env),
        Command::Token { url, account } => commands::token::run(
            url.as_deref(),
            account.as_deref(),
            &mut std::io::stdout().lock(),
            &env,
        ),
        Command::Doctor { url, json } => {
            commands::doctor::run(url.as_deref(), json, &mut std::io::stdout().lock(), &env)
        }
        Command::Configure(settings) => setup::configure(settings),
        Command::Unconfigure { url, scope } => setup::unconfigure(url.as_deref(), &scope),
        Command::Help(cmd) => {
            print!("{}", cli::help(cmd.as_deref()));
            Ok(())
        }
        Command::Man => {
            print!("{}", cli::man_page());
            Ok(())
        }
        Command::Completions(shell) => {
            print!("{}", cli::completions::script(shell));
            Ok(())
        }
        Command::Version => {
            println!("{}", cli::version());
            Ok(())
        }
    }
}
