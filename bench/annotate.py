#!/usr/bin/env python3
"""Per-instruction sample counts for JIT-compiled methods (used by bench/profile.sh).

annotate.py PERF_MAP SAMPLE_IPS JIT_LISTING OUT_DIR [TOP]

PERF_MAP: /tmp/perf-PID.map of the profiled process (DOTNET_PerfMapEnabled=1): start, size and name of each method.
SAMPLE_IPS: one sampled instruction pointer per line (perf script -F ip).
JIT_LISTING: DOTNET_JitStdOutFile of the same process, with DOTNET_JitDisasm and DOTNET_JitDisasmWithCodeBytes=1; a
method's listing is matched to its code in the map by name and size ("; Total bytes of code N").
Prints each method's share and its hottest instruction groups; writes OUT_DIR/NAME-SIZE.txt with the count beside every
instruction. A timer sample lands on the instruction after a stalled one as often as on it: read a hot spot as
"around here".
"""
import bisect
import collections
import re
import sys


def main():
    map_path, ips_path, listing_path, out_dir = sys.argv[1:5]
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 6
    methods = []
    for line in open(map_path):
        parts = line.rstrip('\n').split(' ', 2)
        if len(parts) == 3:
            methods.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
    methods.sort()
    starts = [m[0] for m in methods]
    samples = collections.Counter()
    total = 0
    for line in open(ips_path):
        try:
            ip = int(line.strip(), 16)
        except ValueError:
            continue
        total += 1
        k = bisect.bisect_right(starts, ip) - 1
        if k >= 0 and ip < methods[k][0] + methods[k][1]:
            samples[(k, ip - methods[k][0])] += 1

    per_method = collections.Counter()
    for (k, _), n in samples.items():
        per_method[k] += n

    listings = split_listings(open(listing_path).read().split('\n'))
    print(f"{total} samples")
    for k, n in per_method.most_common(top):
        start, size, name = methods[k]
        short = re.sub(r'\(.*', '', name.split('::')[-1])
        print(f"\n{100.0 * n / total:5.1f}%  {name[:150]}")
        listing = next((l for l in listings if l[0] == size and short in l[1]), None)
        if listing is None:
            print("       (no listing: not a method of the library)")
            continue
        rows, groups = annotate(listing[2], {off: c for (kk, off), c in samples.items() if kk == k})
        path = f"{out_dir}/{re.sub(r'[^A-Za-z0-9]+', '_', short)}-{size}.txt"
        with open(path, 'w') as f:
            f.write(f"; {name}\n; {n} samples of {total}\n" + '\n'.join(rows) + '\n')
        for group, c in sorted(groups.items(), key=lambda g: -g[1])[:8]:
            if c > 0:
                print(f"       {c:6d}  {group}")
        print(f"       annotated: {path}")


def split_listings(lines):
    """(code size, header, lines) for each method listing in the JIT's output."""
    result = []
    current = None
    for line in lines:
        if line.startswith('; Assembly listing for method'):
            current = [0, line, []]
            result.append(current)
        elif current is not None:
            current[2].append(line)
            m = re.match(r'; Total bytes of code (\d+)', line)
            if m:
                current[0] = int(m.group(1))
    return [tuple(l) for l in result]


def annotate(lines, counts):
    """Each instruction with its offset and sample count (offsets from the groups' own and the code bytes)."""
    rows, groups = [], collections.Counter()
    offset, group = None, None
    for line in lines:
        m = re.search(r'^(G_M\d+_IG\d+):\s+;; offset=0x([0-9A-Fa-f]+)', line)
        if m:
            group, offset = m.group(1), int(m.group(2), 16)
            rows.append(line)
            continue
        m = re.match(r'\s+([0-9A-F]+)\s+(\S.*)', line)
        if m and offset is not None and len(m.group(1)) % 2 == 0 and not m.group(2).startswith('align'):
            c = counts.get(offset, 0)
            groups[group] += c
            rows.append(f"{offset:6x} {c:6d}  {m.group(2)}")
            offset += len(m.group(1)) // 2
        else:
            rows.append(line)
    return rows, groups


if __name__ == '__main__':
    main()
