//! `--completions bash|zsh|fish` driven by the real shells: what a person
//! gets on <TAB> for `git-credential-bitbucket ...` and, through git's own
//! completion, for `git credential-bitbucket ...`. zsh and fish are
//! optional on a developer machine (the test says so and passes); .ci/package
//! installs them.

use std::path::Path;
use std::process::Output;

use crate::common::env::{helper_path, shell_quote, TestEnv};
use crate::common::{assert_failure, assert_success, describe, stderr, stdout};

fn script(env: &TestEnv, shell: &str) -> String {
    let out = env.helper(&["--completions", shell], "");
    assert_success(&out, &format!("--completions {shell}"));
    assert_eq!(stderr(&out), "", "{}", describe(&out));
    let path = env.root().join(format!("completion.{shell}"));
    std::fs::write(&path, stdout(&out)).expect("write the completion script");
    path.to_str().expect("UTF-8 temp path").to_owned()
}

fn has(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn run_shell(env: &TestEnv, shell: &str, code: &str) -> Output {
    let mut cmd = env.command(shell);
    cmd.arg("-c").arg(code);
    let out = env.run(cmd, None);
    assert_success(&out, &format!("{shell} -c {code}"));
    out
}

/// bash: the function that `complete -p` names answers `COMPREPLY` for
/// commands, flags and flag values, as bash calls it.
#[test]
fn bash_completes_commands_flags_and_values() {
    let env = TestEnv::new();
    let file = script(&env, "bash");
    let code = format!(
        r#"source {file}
complete -p git-credential-bitbucket
ask() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _git_credential_bitbucket; echo "$*|${{COMPREPLY[*]}}"; }}
ask git-credential-bitbucket st
ask git-credential-bitbucket ""
ask git-credential-bitbucket --
ask git-credential-bitbucket logout --a
ask git-credential-bitbucket configure --kind ""
ask git-credential-bitbucket configure --kind = d
ask git-credential-bitbucket configure --store k
ask git-credential-bitbucket configure --client-id ""
ask git-credential-bitbucket --completions ""
ask git-credential-bitbucket unconfigure --l
"#
    );
    let out = stdout(&run_shell(&env, "bash", &code));
    let want = [
        "complete -F _git_credential_bitbucket git-credential-bitbucket",
        "git-credential-bitbucket st|status",
        "git-credential-bitbucket |login logout status switch token doctor configure unconfigure install uninstall",
        "git-credential-bitbucket --|--help --version --man --completions",
        "git-credential-bitbucket logout --a|--account --all",
        "git-credential-bitbucket configure --kind |cloud datacenter",
        "git-credential-bitbucket configure --kind = d|datacenter",
        "git-credential-bitbucket configure --store k|keyring",
        // A free-text value: nothing, not the flags.
        "git-credential-bitbucket configure --client-id |",
        "git-credential-bitbucket --completions |bash zsh fish",
        "git-credential-bitbucket unconfigure --l|--local",
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, want, "{out}");
}

/// `git credential-bitbucket <TAB>`: git's bash completion calls
/// `_git_credential_bitbucket`; the answers carry git's trailing space.
#[test]
fn bash_completes_through_gits_own_completion() {
    let git_completion = Path::new("/usr/share/bash-completion/completions/git");
    if !git_completion.exists() {
        eprintln!(
            "skipped: no {} (Debian's git ships it)",
            git_completion.display()
        );
        return;
    }
    let env = TestEnv::new();
    let file = script(&env, "bash");
    let code = format!(
        r#"source {}
source {file}
ask() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); __git_wrap__git_main; printf '%s|' "$*"; printf '[%s]' "${{COMPREPLY[@]}}"; echo; }}
ask git credential-bitbucket st
ask git -C . credential-bitbucket log
ask git credential-bitbucket configure --flow ""
ask git credential-bitbucket configure --kind=d
"#,
        shell_quote(&git_completion.to_string_lossy())
    );
    let out = stdout(&run_shell(&env, "bash", &code));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "git credential-bitbucket st|[status ]",
            "git -C . credential-bitbucket log|[login ][logout ]",
            "git credential-bitbucket configure --flow |[browser ][client_credentials ]",
            "git credential-bitbucket configure --kind=d|[datacenter ]",
        ],
        "{out}"
    );
}

/// fish: `complete -C` lists what <TAB> would offer, with descriptions.
#[test]
fn fish_completes_commands_flags_and_values() {
    if !has("fish") {
        eprintln!("skipped: fish is not installed (.ci/package installs it)");
        return;
    }
    let env = TestEnv::new();
    let file = script(&env, "fish");
    let code = format!(
        "source {file}; for line in 'st' 'logout --a' 'configure --flow ' 'configure --fi'; \
         complete -C \"git-credential-bitbucket $line\" | string replace -r '\\t.*' '' | string join ' '; end; true"
    );
    let out = stdout(&run_shell(&env, "fish", &code));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "status",
            "--account --all",
            "browser client_credentials",
            "--file"
        ],
        "{out}"
    );
}

/// zsh: a real interactive zsh on a pseudo-terminal (zpty) with compinit
/// and the script in $fpath, as a user installs it; each line is typed,
/// completed with <TAB>, then printed. zsh handles the keys in order, so
/// no sleeping: each read waits for its marker (bounded by the env's
/// timeout).
#[test]
fn zsh_completes_commands_flags_and_values_also_after_git() {
    if !has("zsh") {
        eprintln!("skipped: zsh is not installed (.ci/package installs it)");
        return;
    }
    let env = TestEnv::new();
    let file = script(&env, "zsh");
    let fpath = env.root().join("zfunc");
    std::fs::create_dir_all(&fpath).expect("fpath dir");
    std::fs::copy(&file, fpath.join("_git-credential-bitbucket")).expect("copy");
    // git and the helper on PATH, as zsh's git completion looks for them.
    let bin = helper_path();
    let bin_dir = bin.parent().expect("the helper's directory");
    let lines = [
        "git-credential-bitbucket configure --ki",
        "git-credential-bitbucket configure --store k",
        "git-credential-bitbucket uncon",
        "git credential-bitbucket sta",
    ];
    let driver = format!(
        r#"zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; fpath=({} $fpath); autoload -Uz compinit; compinit -u -D; setopt nobeep'
for line in {}; do
  # The marker is computed, so the echo of the typed line cannot match.
  zpty -w -n z "$line"$'\t\C-aprint -r -- DONE$((1+1)):\C-e\n'
  zpty -r z out '*DONE2:*'$'\n'
  print -r -- "${{${{out##*DONE2:}}%%$'\r'*}}"
done
zpty -d z
"#,
        shell_quote(&fpath.to_string_lossy()),
        lines.map(shell_quote).join(" ")
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    env.set_env("PATH", std::env::join_paths(dirs).expect("PATH"));
    let out = run_shell(&env, "zsh", &format!("zsh -f -c {}", shell_quote(&driver)));
    let got: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect();
    assert_eq!(
        got,
        [
            "git-credential-bitbucket configure --kind",
            "git-credential-bitbucket configure --store keyring",
            "git-credential-bitbucket unconfigure",
            "git credential-bitbucket status",
        ],
        "{}",
        describe(&out)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_choices() {
    let env = TestEnv::new();
    let out = env.helper(&["--completions", "tcsh"], "");
    assert_failure(&out, "--completions tcsh");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("bash, zsh, fish"),
        "{}",
        describe(&out)
    );
    assert_eq!(stdout(&out), "");
}
