//! Thin entry point: the library runs the command argv names.

fn main() -> std::process::ExitCode {
    git_credential_bitbucket::run(std::env::args_os().skip(1))
}
