#!/usr/bin/env bash
# Install git-credential-bitbucket: built from source, or from a release
# archive (no Rust needed).
#
#   ./install.sh                    build from source into ~/.local/bin
#   ./install.sh --prefix /usr/local
#   ./install.sh --from git-credential-bitbucket-VERSION-x86_64-linux-musl.tar.gz
#                                   install a release archive's static binary
#                                   (an extracted archive's directory works too)
#   ./install.sh --configure        then run `git-credential-bitbucket configure`
#   ./install.sh --uninstall        remove what an install put there; first
#                                   offers to sign out of and unconfigure each
#                                   host your global git config points at it
#                                   and, on a terminal, to remove the data
#                                   directory (saved tokens, consumer secrets)
#   ./install.sh --uninstall --yes          ... and do all that without asking
#   ./install.sh --uninstall --keep-config  ... and leave tokens and config
#
# Run from inside an extracted release archive, it installs that archive's
# binary. It installs the man page and bash, zsh and fish completions under
# PREFIX/share. PREFIX may also come from the environment. Building from
# source needs only cargo (and the crates.io registry for the first build).
set -euo pipefail

prefix="${PREFIX:-$HOME/.local}"
action=install
configure=0
from=""
answer=ask
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --from) from="${2:?--from needs a release archive}"; shift 2 ;;
    --from=*) from="${1#--from=}"; shift ;;
    --uninstall) action=uninstall; shift ;;
    --configure) configure=1; shift ;;
    --yes) answer=yes; shift ;;
    --keep-config) answer=keep; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

name=git-credential-bitbucket
bindir="$prefix/bin"
mandir="$prefix/share/man/man1"
# The user-level locations each shell looks in under a prefix (bash-completion
# also finds PREFIX/share/bash-completion for a PREFIX/bin on PATH).
bashdir="$prefix/share/bash-completion/completions"
zshdir="$prefix/share/zsh/site-functions"
fishdir="$prefix/share/fish/vendor_completions.d"
files=("$bindir/$name" "$mandir/$name.1" "$bashdir/$name" "$zshdir/_$name" "$fishdir/$name.fish")
here="$(cd "$(dirname "$0")" && pwd)"

# -- uninstall --------------------------------------------------------------
# The hosts whose helper entry in the global git config is this binary.
configured_urls() {
  git config --global --get-regexp '^credential\..*\.helper$' 2>/dev/null \
    | while IFS=' ' read -r key value; do
        case "$value" in
          "$bindir/$name" | "$bindir/$name "*) ;;
          *) continue ;;
        esac
        url="${key#credential.}"
        echo "${url%.helper}"
      done | sort -u
}

# Where the helper keeps its data (its store::data_dir: the XDG data
# directory on Linux, Application Support on macOS).
data_dir() {
  case "$(uname -s)" in
    Darwin) echo "$HOME/Library/Application Support/$name" ;;
    *)
      case "${XDG_DATA_HOME:-}" in
        /*) echo "$XDG_DATA_HOME/$name" ;;
        *) echo "$HOME/.local/share/$name" ;;
      esac ;;
  esac
}

if [ "$action" = uninstall ]; then
  command -v git >/dev/null 2>&1 || answer=keep
  urls=()
  if command -v git >/dev/null 2>&1; then
    while IFS= read -r url; do urls+=("$url"); done < <(configured_urls)
  fi
  if [ ${#urls[@]} -gt 0 ] && [ "$answer" = ask ] && ! [ -t 0 ]; then
    echo "install.sh: your global git config uses $bindir/$name for: ${urls[*]}" >&2
    echo "Removing the binary and leaving that config would break git for those hosts." >&2
    echo "Run again with --yes (sign out and unconfigure them first) or --keep-config (leave them)." >&2
    exit 2
  fi
  for url in "${urls[@]}"; do
    do_it="$answer"
    if [ "$do_it" = ask ]; then
      printf 'Sign out of %s (delete its saved tokens) and remove its git config? [Y/n] ' "$url" >&2
      read -r reply || reply=n
      case "$reply" in [nN]*) do_it=keep ;; *) do_it=yes ;; esac
    fi
    if [ "$do_it" = yes ] && [ -x "$bindir/$name" ]; then
      "$bindir/$name" logout "$url" --all || echo "install.sh: logout $url failed; continuing" >&2
      "$bindir/$name" unconfigure "$url" || echo "install.sh: unconfigure $url failed; continuing" >&2
    elif [ "$do_it" = yes ]; then
      git config --global --remove-section "credential.$url" \
        || echo "install.sh: could not remove credential.$url from your git config" >&2
    else
      echo "Kept the config for $url. git will fail for it until you remove it:" >&2
      echo "  git config --global --remove-section 'credential.$url'" >&2
    fi
  done
  rm -f "${files[@]}"
  echo "Removed $bindir/$name, its man page and its shell completions."
  # The data directory (the file store, consumer secrets, locks) is not
  # under PREFIX: say where it is, and remove it only when asked to.
  datadir="$(data_dir)"
  if [ -d "$datadir" ]; then
    do_it="$answer"
    if [ "$do_it" = ask ] && [ -t 0 ]; then
      printf 'Remove the data directory %s (saved tokens, consumer secrets)? [y/N] ' "$datadir" >&2
      read -r reply || reply=n
      case "$reply" in [yY]*) do_it=yes ;; *) do_it=keep ;; esac
    fi
    if [ "$do_it" = yes ]; then
      rm -rf -- "$datadir"
      echo "Removed the data directory $datadir."
    else
      echo "Kept the data directory $datadir (saved tokens, consumer secrets); remove it with:" >&2
      echo "  rm -rf '$datadir'" >&2
    fi
  fi
  exit 0
fi

# -- where the binary comes from --------------------------------------------
tmp=""
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT
# An extracted release archive: the binary sits next to this script and
# there is no source tree.
if [ -z "$from" ] && [ -x "$here/$name" ] && ! [ -f "$here/Cargo.toml" ]; then
  from="$here"
fi
if [ -n "$from" ]; then
  if [ -d "$from" ]; then
    src="$from/$name"
  elif [ -f "$from" ]; then
    tmp="$(mktemp -d)"
    tar -xzf "$from" -C "$tmp" || { echo "install.sh: cannot extract $from (a .tar.gz release archive)" >&2; exit 1; }
    src="$(find "$tmp" -maxdepth 2 -type f -name "$name" | head -n 1)"
  else
    echo "install.sh: $from does not exist" >&2; exit 1
  fi
  [ -n "$src" ] && [ -f "$src" ] || { echo "install.sh: no $name binary in $from" >&2; exit 1; }
  "$src" --version >/dev/null 2>&1 || { echo "install.sh: $src does not run on this machine (the archives are for x86_64 Linux)" >&2; exit 1; }
else
  command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is not on PATH; install Rust from your distribution or rustup first, or use a release archive (--from)" >&2; exit 1; }
  echo "Building $name (release)..." >&2
  # An explicit target dir, so the binary is where we install it from even
  # when CARGO_TARGET_DIR or build.target-dir points elsewhere.
  (cd "$here" && cargo build --release --locked --quiet --target-dir "$here/target")
  src="$here/target/release/$name"
fi

# -- install ------------------------------------------------------------------
mkdir -p "$bindir" "$mandir" "$bashdir" "$zshdir" "$fishdir"
install -m 0755 "$src" "$bindir/$name.tmp" && mv "$bindir/$name.tmp" "$bindir/$name"
# The man page and completions come from the binary itself (its help texts
# and command table), so they always match it.
generate() { # FILE ARGS...
  local file="$1"; shift
  "$bindir/$name" "$@" > "$file.tmp" && chmod 0644 "$file.tmp" && mv "$file.tmp" "$file"
}
generate "$mandir/$name.1" --man
generate "$bashdir/$name" --completions bash
generate "$zshdir/_$name" --completions zsh
generate "$fishdir/$name.fish" --completions fish
echo "Installed $bindir/$name ($("$bindir/$name" --version | head -n 1)), $mandir/$name.1 and completions for bash, zsh and fish under $prefix/share."

case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "Note: $bindir is not on your PATH. git finds the helper through the absolute path below either way; add it to PATH to run 'git credential-bitbucket' by hand." ;;
esac
case "$zshdir" in
  /usr/share/* | /usr/local/share/*) ;;
  *) echo "Note: for zsh completion, add $zshdir to fpath in ~/.zshrc before compinit." ;;
esac

if [ "$configure" = 1 ]; then
  [ -z "$tmp" ] || rm -rf "$tmp"
  exec "$bindir/$name" configure
fi

cat <<NEXT

Next steps (docs/bitbucket-consumer.md explains the first one):
  1. In any Bitbucket workspace you administer (your personal one will do):
     Workspace settings > OAuth consumers > Add consumer, with Callback URL
     http://127.0.0.1 (no port, no trailing slash) and permissions
     Account: Read and Repositories: Write. Note its Key and Secret.
  2. Tell git to use the helper for bitbucket.org (asks for the Key and Secret):
       $bindir/$name configure
  3. Clone as usual; the first time, your browser asks you to sign in.
NEXT
