//! Thin entry point: parse argv, run the command, print an error once.

use git_credential_bitbucket::app::{self, NAME};
use git_credential_bitbucket::cli::{self, Command};
use git_credential_bitbucket::config::ProcessEnv;
use git_credential_bitbucket::error::Error;
use git_credential_bitbucket::setup;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run() -> Result<(), Error> {
    let env = ProcessEnv;
    match cli::parse(std::env::args_os().skip(1))? {
        // git never runs us with a terminal on stdin: a person typed an
        // unknown word, so say so (for git, unknown words stay silent).
        Command::Protocol(action)
            if !["get", "store", "erase", "capability"].contains(&action.as_str())
                && std::io::IsTerminal::is_terminal(&std::io::stdin()) =>
        {
            Err(Error::Usage(format!("unknown command {action:?}")))
        }
        Command::Protocol(action) => {
            let result = app::protocol(
                &action,
                std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
                &env,
            );
            match result {
                // Protocol actions exit 0 whatever happened (git ignores the
                // status), except for input that cannot be parsed (SPEC §2).
                Err(e @ Error::Decode(_)) => Err(e),
                Err(e) => {
                    eprintln!("{NAME}: {e}");
                    Ok(())
                }
                Ok(()) => Ok(()),
            }
        }
        Command::Login { url, no_browser } => app::login(url.as_deref(), no_browser, &env),
        Command::Logout { url, account, all } => {
            app::logout(url.as_deref(), account.as_deref(), all, &env)
        }
        Command::Status { url, json } => {
            app::status(url.as_deref(), json, &mut std::io::stdout().lock())
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
