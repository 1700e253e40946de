#!/usr/bin/env bash
# Fuzzes the .npy reader with AFL++ through SharpFuzz; see docs/fuzzing.md.
#   fuzz/run.sh [SECONDS]     build, instrument xent.dll, run afl-fuzz (until Ctrl-C, or for SECONDS)
# Needs afl-fuzz (Debian: apt-get install afl++) and the sharpfuzz tool
# (dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0), or SHARPFUZZ=/path/to/sharpfuzz.
set -euo pipefail
cd "$(dirname "$0")/Xent.Fuzz"
sharpfuzz=${SHARPFUZZ:-sharpfuzz}
out=bin/Release/net10.0

# A build copies a fresh, uninstrumented xent.dll over an instrumented one.
dotnet build -c Release -v q --nologo

# The seeds must pass the oracle before AFL starts, or each would look like a crash. This runs before instrumenting:
# instrumented code writes coverage to AFL's shared memory and crashes when started outside afl-fuzz.
dotnet "$out/Xent.Fuzz.dll" --replay corpus

# Instrument only the reader's namespace, so the coverage AFL sees is the parser's, not System.CommandLine's.
"$sharpfuzz" "$out/xent.dll" Xent.Cli.Npy

# AFL cannot see instrumentation in the dotnet host itself (it lives in the managed dll): skip its check.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=${AFL_NO_UI:-}
timeout_args=()
if [[ $# -ge 1 ]]; then timeout_args=(-V "$1"); fi
# -t: .NET starts slowly and the first inputs JIT; -m none: the runtime reserves far more address space than AFL's default limit.
afl-fuzz "${timeout_args[@]}" -i corpus -o findings -t 10000 -m none -- dotnet "$out/Xent.Fuzz.dll"
