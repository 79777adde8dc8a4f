#!/usr/bin/env bash
# Build git-credential-bitbucket and install it.
#
#   ./install.sh                    install into ~/.local/bin
#   ./install.sh --prefix /usr/local
#   ./install.sh --configure        then run `git-credential-bitbucket configure`
#   ./install.sh --uninstall        remove what an install put there
#
# PREFIX may also come from the environment. Needs only cargo (and the
# crates.io registry for the first build).
set -euo pipefail

prefix="${PREFIX:-$HOME/.local}"
action=install
configure=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --uninstall) action=uninstall; shift ;;
    --configure) configure=1; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

name=git-credential-bitbucket
bindir="$prefix/bin"
mandir="$prefix/share/man/man1"
here="$(cd "$(dirname "$0")" && pwd)"

if [ "$action" = uninstall ]; then
  rm -f "$bindir/$name" "$mandir/$name.1"
  echo "Removed $bindir/$name and its man page."
  echo "Your git config still names it; remove those entries with: git config --global --remove-section 'credential.https://bitbucket.org'"
  exit 0
fi

command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is not on PATH; install Rust from your distribution or rustup first" >&2; exit 1; }

echo "Building $name (release)..." >&2
# An explicit target dir, so the binary is where we install it from even
# when CARGO_TARGET_DIR or build.target-dir points elsewhere.
(cd "$here" && cargo build --release --locked --quiet --target-dir "$here/target")

mkdir -p "$bindir"
install -m 0755 "$here/target/release/$name" "$bindir/$name"
# The man page comes from the binary's own help texts.
mkdir -p "$mandir"
"$bindir/$name" --man > "$mandir/$name.1.tmp" && mv "$mandir/$name.1.tmp" "$mandir/$name.1"
chmod 0644 "$mandir/$name.1"
echo "Installed $bindir/$name ($("$bindir/$name" --version)) and $mandir/$name.1."

case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "Note: $bindir is not on your PATH. git finds the helper through the absolute path below either way; add it to PATH to run 'git credential-bitbucket' by hand." ;;
esac

if [ "$configure" = 1 ]; then
  exec "$bindir/$name" configure
fi

cat <<NEXT

Next steps (docs/bitbucket-consumer.md explains the first one):
  1. In Bitbucket: Workspace settings > OAuth consumers > Add consumer, with
     Callback URL http://127.0.0.1:34107/ and permissions Account: Read and
     Repositories: Write. Note its Key and Secret.
  2. Tell git to use the helper for bitbucket.org (asks for the Key and Secret):
       $bindir/$name configure
  3. Clone as usual; the first time, your browser asks you to sign in.
NEXT
