#!/usr/bin/env bash
# Where a case's time goes, by method and by instruction: bench/profile.sh KIND:SHAPE [THREADS] [--forward]
# e.g. bench/profile.sh ce-bf16:8x21x262144 1   (cases as for `ab` and `run`, see bench/README.md)
# Needs Linux perf (Debian: linux-perf; this machine has it, with software timers only) and python3. Writes
# bench/profile-out/ (ignored by git): perf.data, the JIT's listings and one annotated listing per hot method.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: bench/profile.sh KIND:SHAPE [THREADS] [--forward]" >&2
    exit 2
fi
for tool in perf python3; do
    command -v $tool > /dev/null || { echo "profile.sh: needs $tool (Debian: linux-perf, python3)" >&2; exit 2; }
done
spec=$1
threads=${2:-1}
forward=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/bench/profile-out
mkdir -p "$out"
dotnet build -c Release "$root/bench/Xent.Bench" -v q -nologo > "$out/build.log" || { cat "$out/build.log"; exit 1; }
dll=$root/bench/Xent.Bench/bin/Release/net10.0/linux-x64/Xent.Bench.dll

# Timer samples of the `run` command. perf names JIT code through /tmp/perf-PID.map (DOTNET_PerfMapEnabled) and needs
# it mapped once (W^X off: otherwise it runs from an anonymous double mapping perf cannot name). The same process lists
# the library's methods as the JIT compiles them (DOTNET_JitDisasm), so each listing is the very code that was sampled,
# tiers and dynamic PGO included.
rm -f "$out/jit.txt"
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
    DOTNET_JitDisasm='Xent.*:*' DOTNET_JitDisasmWithCodeBytes=1 DOTNET_JitStdOutFile="$out/jit.txt" \
    perf record -q -e cpu-clock -F 5000 -o "$out/perf.data" -- \
    dotnet "$dll" run --case "$spec" --threads "$threads" --calls 60 $forward
pid=$(perf script -i "$out/perf.data" -F pid 2>/dev/null | awk 'NR == 1 { print $1 }')
perf script -i "$out/perf.data" -F ip 2>/dev/null > "$out/ips.txt"
cp "/tmp/perf-$pid.map" "$out/perf.map"
python3 "$root/bench/annotate.py" "$out/perf.map" "$out/ips.txt" "$out/jit.txt" "$out"
