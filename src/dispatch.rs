//! One run of the program: parse argv, run the command it names, print an
//! error once, and turn the outcome into the exit status.

use crate::app;
use crate::cli::{self, Command};
use crate::commands;
use crate::env::ProcessEnv;
use crate::error::Error;
use crate::setup;
use std::ffi::OsString;
use std::process::ExitCode;

/// Runs the command `args` (argv without the program name) names; the exit
/// status is `Error::exit_code` of its error, if any.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match command(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::say!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn command(args: impl IntoIterator<Item = OsString>) -> Result<(), Error> {
    let env = ProcessEnv;
    let args: Vec<OsString> = args.into_iter().collect();
    let no_args = args.is_empty();
    match cli::parse(args)? {
        // git never runs us with a terminal on stdin: a person typed an
        // unknown word, so say so (for git, unknown words stay silent).
        Command::Unknown(word) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            let what = match word.starts_with('-') {
                true => "option",
                false => "command",
            };
            Err(Error::Usage(match cli::suggestion(&word) {
                Some(cmd) => format!("unknown {what} {word:?}; did you mean `{cmd}`?"),
                None => format!("unknown {what} {word:?}"),
            }))
        }
        // git never types: on a terminal a person waits for a prompt that
        // never comes, so say what is read (one line, stderr only).
        Command::Protocol(action @ crate::protocol::Action::Get)
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) =>
        {
            crate::say!(
                "reading a request as git sends it: lines such as protocol=https and \
                 host=bitbucket.org, then an empty line (`git credential-bitbucket login` signs \
                 in by hand)"
            );
            app::run(
                action,
                std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
                &app::RealWorld(&env),
            )
        }
        // Not a terminal: git's rule says stay silent, since a newer git may
        // send words we do not know. A near miss of one of our commands is
        // a person's typo in a script, though: one line on stderr, which
        // git would show, and still nothing on stdout.
        Command::Unknown(word) => {
            match cli::suggestion(&word) {
                Some(cmd) => crate::say!("did you mean `{cmd}`?"),
                None => crate::trace!("ignoring unknown action {word:?}"),
            }
            Ok(())
        }
        Command::Protocol(action) => app::run(
            action,
            std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &app::RealWorld(&env),
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
        Command::Switch { url, account } => {
            commands::switch::run(url.as_deref(), account.as_deref(), &env)
        }
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
        Command::Install { what, yes } => setup::install(what, yes),
        // A double-click in Explorer: say what this is before the window
        // closes (docs/platforms.md).
        Command::Help(None)
            if no_args
                && setup::double_clicked(
                    std::io::IsTerminal::is_terminal(&std::io::stdin()),
                    &|v| std::env::var(v).ok(),
                ) =>
        {
            setup::explain_and_wait()
        }
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
            println!("{}", commands::cloud_consumer_line(&env));
            Ok(())
        }
    }
}
