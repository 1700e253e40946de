#!/usr/bin/env bash
# Make TorchSharp-cpu 0.107.0 (libtorch 2.10) loadable on Debian 12.
#
# Why: its native wrapper libLibTorchSharp.so is built with GCC 13 and needs GLIBCXX_3.4.32 for one
# symbol, std::ios_base_library_init() (_ZSt21ios_base_library_initv); Debian 12's libstdc++ stops at
# GLIBCXX_3.4.30, so dlopen fails with "version `GLIBCXX_3.4.32' not found" and TorchSharp throws.
# The symbol is a link-time anchor (GCC 13's <iostream> references it so static links pull in stream
# initialisation); no relocation uses it, and libtorch's own libraries initialise the streams anyway.
#
# What, in the NuGet cache (the build copies natives from there, so every later build gets the fix):
#   1. builds a shim, libxent-glibcxx-shim.so, that defines the function as empty;
#   2. bench/elf_verneed.py clears the symbol's version and renames the GLIBCXX_3.4.32 need in
#      .gnu.version_r to GLIBCXX_3.4 (with its SysV hash), in place;
#   3. patchelf --add-needed makes the library load the shim by absolute path, so the symbol has a
#      definition even if something ever binds it. Absolute, because the SDK copies only the package's
#      own files to bin/, so a shim beside it would not travel; the cache path is stable per machine.
# The untouched library is kept as libLibTorchSharp.so.orig in the same fix folder. Safe to re-run:
# every step checks first. Afterwards rebuild the bench: the SDK recopies the changed file.
#
# Usage: bench/fix-torchsharp.sh [NUGET_PACKAGES_ROOT]
#   Root defaults to $NUGET_PACKAGES, else `dotnet nuget locals global-packages --list`.
#   If TorchSharp is not in the cache yet, restores bench/Xent.Bench first.
set -euo pipefail

TORCHSHARP_VERSION=0.107.0
SYMBOL=_ZSt21ios_base_library_initv
FROM_VERSION=GLIBCXX_3.4.32
TO_VERSION=GLIBCXX_3.4
SHIM_NAME=libxent-glibcxx-shim.so

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { printf 'fix-torchsharp: %s\n' "$*"; }
die() { printf 'fix-torchsharp: error: %s\n' "$*" >&2; exit 1; }

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  say "not Linux x86-64; TorchSharp's linux-x64 natives are not used here, nothing to do"
  exit 0
fi

# The system libstdc++ may already be new enough (Debian 13, Ubuntu 24.04): then leave the package alone.
libstdcxx="$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ { print $NF; exit }')"
if [[ -n "$libstdcxx" ]] && grep -qa "$FROM_VERSION" "$libstdcxx"; then
  say "$libstdcxx already provides $FROM_VERSION; no patch needed"
  exit 0
fi

root="${1:-${NUGET_PACKAGES:-}}"
if [[ -z "$root" ]]; then
  root="$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: *//p')"
fi
root="${root%/}"
[[ -n "$root" ]] || die "cannot find the NuGet global packages folder; pass it as the first argument"

package="$root/torchsharp/$TORCHSHARP_VERSION"
lib="$package/runtimes/linux-x64/native/libLibTorchSharp.so"
if [[ ! -f "$lib" ]]; then
  say "TorchSharp $TORCHSHARP_VERSION is not in $root; restoring bench/Xent.Bench (about 1.3 GB of packages)"
  NUGET_PACKAGES="$root" dotnet restore "$here/Xent.Bench/Xent.Bench.csproj"
  [[ -f "$lib" ]] || die "restore finished but $lib is still missing"
fi
say "library: $lib"

if ! command -v patchelf >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing patchelf"
    apt-get install -y patchelf >/dev/null || { apt-get update >/dev/null && apt-get install -y patchelf >/dev/null; }
  else
    die "patchelf is required (Debian: sudo apt-get install patchelf)"
  fi
fi
command -v cc >/dev/null || die "a C compiler (cc) is required to build the shim"
command -v python3 >/dev/null || die "python3 is required"

fixdir="$package/xent-glibcxx-fix"
shim="$fixdir/$SHIM_NAME"
mkdir -p "$fixdir"

# 1. The shim. Rebuilt only when missing or when it does not export the symbol.
if [[ -f "$shim" ]] && nm -D --defined-only "$shim" 2>/dev/null | grep -q " T $SYMBOL\$"; then
  say "shim present: $shim"
else
  printf '/* std::ios_base_library_init(): GCC 13 link-time anchor, empty on purpose (see bench/fix-torchsharp.sh). */\nvoid %s(void) {}\n' \
    "$SYMBOL" > "$fixdir/shim.c"
  cc -shared -fPIC -O2 -Wl,-soname,"$SHIM_NAME" -o "$shim" "$fixdir/shim.c"
  say "built shim: $shim"
fi

# Keep the original once, before the first change.
if [[ ! -f "$fixdir/libLibTorchSharp.so.orig" ]]; then
  cp -p "$lib" "$fixdir/libLibTorchSharp.so.orig"
  say "saved original: $fixdir/libLibTorchSharp.so.orig"
fi

# 2. Version edits (the helper is itself idempotent; --check keeps this run's output honest).
if python3 "$here/elf_verneed.py" --check "$lib" "$SYMBOL" "$FROM_VERSION" "$TO_VERSION" >/dev/null; then
  say "version need $FROM_VERSION already gone"
else
  python3 "$here/elf_verneed.py" "$lib" "$SYMBOL" "$FROM_VERSION" "$TO_VERSION" | sed 's/^/fix-torchsharp: /'
fi

# 3. The shim as a needed library.
if patchelf --print-needed "$lib" | grep -qxF "$shim"; then
  say "already needs $shim"
else
  # Drop a stale entry (the cache moved, or an older shim path), then add the current one.
  for old in $(patchelf --print-needed "$lib" | grep -F "/$SHIM_NAME" || true); do
    patchelf --remove-needed "$old" "$lib"
    say "removed stale needed entry $old"
  done
  patchelf --add-needed "$shim" "$lib"
  say "added needed library $shim"
fi

# Prove it: the dynamic loader must accept every version need now. libtorch's own libraries live in the
# libtorch-cpu-linux-x64 package, so point the loader there for this check.
torchlibs="$(ls -d "$root"/libtorch-cpu-linux-x64/*/runtimes/linux-x64/native 2>/dev/null | tail -n 1 || true)"
if problems="$(LD_LIBRARY_PATH="$torchlibs" ldd "$lib" 2>&1 | grep -E 'not found')"; then
  die "ldd still reports problems:"$'\n'"$problems"
fi
say "ok: ldd resolves $(basename "$lib") against this system's libstdc++; rebuild bench/Xent.Bench to pick it up"
