#!/bin/sh
# Type-checks (or lints) the macOS targets on Linux with Debian's rustc
# and the standard library built from source (docs/platforms.md):
#   scripts/cross/macos-check.sh check [--all-targets]
#   scripts/cross/macos-check.sh clippy --all-targets -- -D warnings
# TARGETS (default: both) and CARGO_TARGET_DIR (default: target-macos)
# may be set.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
stubs="$here/macos-stubs"
# Debian's cargo, rustc and clippy first: rustup's clippy would pair its
# own driver with Debian's standard library.
export PATH="/usr/bin:$PATH"
export RUSTC="${RUSTC:-/usr/bin/rustc}" RUSTC_BOOTSTRAP=1
export __CARGO_TESTS_ONLY_SRC_ROOT="${__CARGO_TESTS_ONLY_SRC_ROOT:-/usr/lib/rustlib/src/rust/library}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../../target-macos}"
for t in aarch64_apple_darwin x86_64_apple_darwin; do
    export "CC_$t=clang" "CFLAGS_$t=-nostdlibinc -I$stubs"
done
cmd=$1
shift
for target in ${TARGETS:-aarch64-apple-darwin x86_64-apple-darwin}; do
    echo "== $cmd $target"
    ${CARGO:-/usr/bin/cargo} "$cmd" -Zbuild-std=std,panic_abort --target "$target" "$@"
done
