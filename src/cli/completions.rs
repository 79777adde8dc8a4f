//! Shell completion scripts, written from [`COMMANDS`] and [`GLOBAL`], the
//! tables the parser and the overview help use: a flag added there reaches
//! every shell, and a test checks that each script names every entry.

use super::{Arg, Cmd, Opt, Shell, COMMANDS, GLOBAL, HELP};
use crate::text::NAME;

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

/// Every flag of a command, `--help` included.
fn opts_of(cmd: &Cmd) -> impl Iterator<Item = &Opt> {
    cmd.opts.iter().chain(std::iter::once(&HELP))
}

fn names(opt: &Opt) -> impl Iterator<Item = &'static str> {
    opt.short.into_iter().chain(std::iter::once(opt.long))
}

fn words<'a>(list: impl IntoIterator<Item = &'a str>) -> String {
    list.into_iter().collect::<Vec<_>>().join(" ")
}

/// One `case` arm per flag that takes a value; `key` is what the script
/// matches: "COMMAND FLAG".
fn bash_value_arms(key: &str, opt: &Opt, out: &mut String) {
    match opt.arg {
        Arg::None => {}
        Arg::OneOf(_, values) => {
            out.push_str(&format!("    \"{key}\") list=\"{}\" ;;\n", words(values.iter().copied())));
        }
        Arg::File => out.push_str(&format!(
            "    \"{key}\")\n        compopt -o filenames 2>/dev/null\n        mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n        return 0 ;;\n"
        )),
        // Free text: offer nothing rather than flags.
        Arg::Text(_) => out.push_str(&format!("    \"{key}\") return 0 ;;\n")),
    }
}

/// The bash script's two tables of `case` arms: the values of each flag
/// that takes one ("COMMAND FLAG"), and each command's flags.
fn bash_cases() -> (String, String) {
    let mut values = String::new();
    for opt in GLOBAL {
        // A global option is the first word, so "COMMAND" is the flag itself.
        bash_value_arms(&format!("{0} {0}", opt.long), opt, &mut values);
    }
    let mut flags = String::new();
    for cmd in COMMANDS {
        for opt in cmd.opts {
            bash_value_arms(&format!("{} {}", cmd.name, opt.long), opt, &mut values);
        }
        flags.push_str(&format!(
            "            {}) list=\"{}\" ;;\n",
            cmd.name,
            words(opts_of(cmd).map(|o| o.long))
        ));
    }
    (values, flags)
}

/// The bash script. Most of this function is the script's text, left
/// whole so it reads as bash will run it.
fn bash() -> String {
    let (values, flags) = bash_cases();
    let commands = words(COMMANDS.iter().map(|c| c.name));
    let global = words(GLOBAL.iter().flat_map(names));
    format!(
        r#"# bash completion for {NAME}, written by `{NAME} --completions bash`.
# It completes `{NAME} ...` and, through git's own bash completion
# (which calls _git_<command> for `git <command>`), `git credential-bitbucket ...`.

_git_credential_bitbucket() {{
    local -a w
    local at c cur prev cmd list=""
    if [[ -n ${{__git_cmd_idx-}} ]]; then
        # Called by git's completion: its words, from `git`.
        w=("${{words[@]}}")
        c=$cword
        at=$__git_cmd_idx
    else
        w=("${{COMP_WORDS[@]}}")
        c=$COMP_CWORD
        at=0
    fi
    cur=${{w[c]-}}
    prev=""
    cmd=""
    ((c > at + 1)) && prev=${{w[c-1]}} && cmd=${{w[at+1]}}
    # `--flag=value`: bash splits the word at "=", git's completion does not.
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && ((c > at + 2)); then
        prev=${{w[c-2]}}
    elif [[ $cur == --*=* ]]; then
        prev=${{cur%%=*}}
        cur=${{cur#*=}}
    fi
    COMPREPLY=()
    case "$cmd $prev" in
{values}    esac
    if [[ -z $list ]]; then
        if ((c == at + 1)); then
            if [[ $cur == -* ]]; then
                list="{global}"
            else
                list="{commands}"
            fi
        else
            # The one positional argument is a URL: offer the flags.
            case $cmd in
{flags}            *) return 0 ;;
            esac
        fi
    fi
    if ((at > 0)) && declare -F __gitcomp >/dev/null; then
        # git's helper adds the trailing space its completion leaves out.
        __gitcomp "$list" "" "$cur"
    else
        mapfile -t COMPREPLY < <(compgen -W "$list" -- "$cur")
    fi
    return 0
}}

complete -F _git_credential_bitbucket {NAME}
"#
    )
}

/// Quotes for the inside of a zsh single-quoted `_arguments` spec, where
/// `[`, `]` and `:` are also special.
fn zsh_quote(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        match ch {
            '\'' => out.push_str("'\\''"),
            '[' | ']' | ':' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// One `_arguments` spec (zsh) for a flag.
fn zsh_spec(opt: &Opt, exclusive: bool) -> String {
    let about = zsh_quote(opt.about);
    let value = match opt.arg {
        Arg::None => String::new(),
        Arg::Text(p) => format!(":{p}: "),
        Arg::File => ":FILE:_files".into(),
        Arg::OneOf(p, values) => format!(":{p}:({})", words(values.iter().copied())),
    };
    let eq = if opt.arg == Arg::None { "" } else { "=" };
    let excl = if exclusive { "'(- *)'" } else { "" };
    match opt.short {
        Some(s) => format!("{excl}{{{s},{}{eq}}}'[{about}]{value}'", opt.long),
        None => format!("{excl}'{}{eq}[{about}]{value}'", opt.long),
    }
}

fn zsh() -> String {
    let global: Vec<String> = GLOBAL.iter().map(|o| zsh_spec(o, true)).collect();
    let commands: String = COMMANDS
        .iter()
        .map(|c| format!("        '{}:{}'\n", c.name, c.about.replace('\'', "'\\''")))
        .collect();
    let mut arms = String::new();
    for cmd in COMMANDS {
        let mut specs: Vec<String> = cmd.opts.iter().map(|o| zsh_spec(o, false)).collect();
        specs.push(zsh_spec(&HELP, true));
        // An empty list, not a message: a message would hide the flags.
        specs.push("'1::URL:()'".into());
        arms.push_str(&format!(
            "        ({})\n          _arguments \\\n            {} && ret=0\n          ;;\n",
            cmd.name,
            specs.join(" \\\n            ")
        ));
    }
    format!(
        r#"#compdef {NAME}
# zsh completion for {NAME}, written by `{NAME} --completions zsh`.
# Put it in $fpath as _{NAME}; zsh's git completion then calls it for
# `git credential-bitbucket ...` too.

_{NAME}() {{
  local curcontext=$curcontext state line ret=1
  typeset -A opt_args
  _arguments -C \
    {} \
    '1: :->command' \
    '*:: :->argument' && ret=0
  case $state in
    (command)
      local -a commands
      commands=(
{commands}      )
      _describe -t commands command commands && ret=0
      ;;
    (argument)
      curcontext=${{curcontext%:*:*}}:{NAME}-$words[1]:
      case $words[1] in
{arms}      esac
      ;;
  esac
  return ret
}}

if [[ $funcstack[1] == _{NAME} ]]; then
  _{NAME} "$@"
else
  compdef _{NAME} {NAME}
fi
"#,
        global.join(" \\\n    ")
    )
}

/// Quotes for a fish single-quoted string.
fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// One fish `complete` line for a flag under `condition`.
fn fish_line(condition: &str, opt: &Opt) -> String {
    let mut line = format!("complete -c {NAME} -n {condition}");
    if let Some(s) = opt.short {
        line.push_str(&format!(" -s {}", s.trim_start_matches('-')));
    }
    line.push_str(&format!(" -l {}", opt.long.trim_start_matches('-')));
    match opt.arg {
        Arg::None => {}
        Arg::Text(_) => line.push_str(" -x"),
        Arg::File => line.push_str(" -r -F"),
        Arg::OneOf(_, values) => line.push_str(&format!(
            " -x -a {}",
            fish_quote(&words(values.iter().copied()))
        )),
    }
    line.push_str(&format!(" -d {}\n", fish_quote(opt.about)));
    line
}

fn fish() -> String {
    let commands = words(COMMANDS.iter().map(|c| c.name));
    let top = fish_quote(&format!("not __fish_seen_subcommand_from {commands}"));
    let mut out = format!(
        "# fish completion for {NAME}, written by `{NAME} --completions fish`.\n\
         # fish's git completion hands `git credential-bitbucket ...` to it.\n\
         complete -c {NAME} -f\n"
    );
    for c in COMMANDS {
        out.push_str(&format!(
            "complete -c {NAME} -n {top} -a {} -d {}\n",
            c.name,
            fish_quote(c.about)
        ));
    }
    for opt in GLOBAL {
        out.push_str(&fish_line(&top, opt));
    }
    for c in COMMANDS {
        let seen = fish_quote(&format!("__fish_seen_subcommand_from {}", c.name));
        for opt in opts_of(c) {
            out.push_str(&fish_line(&seen, opt));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command, flag and value of the tables is in every script.
    #[test]
    fn every_command_and_flag_of_the_table_is_in_each_script() {
        for shell in Shell::ALL {
            let text = script(shell);
            let has = |word: &str, what: &str| {
                // fish names flags without their dashes.
                let bare = word.trim_start_matches('-');
                let found = match shell {
                    Shell::Fish if word.starts_with("--") => text.contains(&format!(" -l {bare}")),
                    Shell::Fish if word.starts_with('-') => text.contains(&format!(" -s {bare}")),
                    _ => text.contains(word),
                };
                assert!(found, "{} script lacks {what} {word}", shell.name());
            };
            for cmd in COMMANDS {
                has(cmd.name, "command");
                for opt in opts_of(cmd) {
                    names(opt).for_each(|n| has(n, &format!("{} flag", cmd.name)));
                    if let Arg::OneOf(_, values) = opt.arg {
                        values
                            .iter()
                            .for_each(|v| has(v, &format!("{} value", opt.long)));
                    }
                }
            }
            for opt in GLOBAL {
                names(opt).for_each(|n| has(n, "option"));
            }
        }
    }

    /// The bash script puts words into `compgen -W` and `case` patterns
    /// unquoted: they must be plain.
    #[test]
    fn table_words_need_no_shell_quoting() {
        let plain = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        };
        for cmd in COMMANDS {
            assert!(plain(cmd.name), "{}", cmd.name);
            for opt in cmd.opts.iter().chain(GLOBAL) {
                assert!(names(opt).all(plain), "{}", opt.long);
                if let Arg::OneOf(_, values) = opt.arg {
                    assert!(values.iter().all(|v| plain(v)), "{values:?}");
                }
            }
        }
    }

    #[test]
    fn descriptions_are_quoted_for_zsh_and_fish() {
        assert_eq!(zsh_quote("a [b]: c's"), "a \\[b\\]\\: c'\\''s");
        assert_eq!(fish_quote("it's \\"), "'it\\'s \\\\'");
        // The table has an apostrophe ("the consumer's callback URL").
        assert!(zsh().contains("consumer'\\''s"));
        assert!(fish().contains("consumer\\'s"));
    }
}
