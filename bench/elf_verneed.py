#!/usr/bin/env python3
"""Drop one symbol's versioned requirement from an ELF64 little-endian shared library, in place.

libLibTorchSharp.so (TorchSharp 0.107.0) is built with GCC 13, whose <iostream> plants a reference to
std::ios_base_library_init() versioned GLIBCXX_3.4.32. Debian 12's libstdc++ stops at GLIBCXX_3.4.30,
so ld.so refuses the whole library while checking .gnu.version_r, before it resolves any symbol.
The reference only exists to pull libstdc++'s stream initialisation into static links: no relocation
uses it. Two edits make the library loadable on an older libstdc++ without touching anything else:

  1. .gnu.version: the symbol's version index becomes 1 (VER_NDX_GLOBAL), i.e. "any definition".
     This is what `patchelf --clear-symbol-version` does.
  2. .gnu.version_r: the Vernaux entry naming GLIBCXX_3.4.32 is renamed to GLIBCXX_3.4 (a version
     every libstdc++.so.6 has and that the library already needs), pointing vna_name at that existing
     .dynstr string and recomputing vna_hash, because ld.so compares the hash before the name.

Sizes and offsets do not change. The script refuses if any other symbol still uses the version it
renames, and it is idempotent: a second run reports that there is nothing to do.

Usage: elf_verneed.py [--check] LIBRARY SYMBOL FROM_VERSION TO_VERSION
  --check  change nothing; exit 0 when already patched (or nothing to patch), 1 when a patch is due.
"""
import struct
import sys

SHT_DYNSYM = 11
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF
VER_NDX_GLOBAL = 1
VERSYM_HIDDEN = 0x8000


def elf_hash(name: bytes) -> int:
    """SysV ELF hash, the value ld.so expects in vna_hash."""
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def c_string(data: bytes, offset: int) -> bytes:
    return data[offset:data.index(b"\0", offset)]


def sections(data: bytes):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("not an ELF64 little-endian file")
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    result = []
    for i in range(e_shnum):
        (name, kind, _flags, _addr, offset, size, link, info, _align, entsize) = struct.unpack_from(
            "<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
        result.append(dict(type=kind, offset=offset, size=size, link=link, info=info, entsize=entsize))
    return result


def only(items, what):
    if len(items) != 1:
        raise SystemExit(f"expected exactly one {what}, found {len(items)}")
    return items[0]


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 4:
        raise SystemExit(__doc__)
    path, symbol, from_version, to_version = args[0], args[1].encode(), args[2].encode(), args[3].encode()

    with open(path, "rb") as f:
        data = bytearray(f.read())
    secs = sections(data)
    dynsym = only([s for s in secs if s["type"] == SHT_DYNSYM], ".dynsym")
    versym = only([s for s in secs if s["type"] == SHT_GNU_VERSYM], ".gnu.version")
    verneed = only([s for s in secs if s["type"] == SHT_GNU_VERNEED], ".gnu.version_r")
    dynstr = secs[dynsym["link"]]
    strtab = bytes(data[dynstr["offset"]:dynstr["offset"] + dynstr["size"]])

    # Every Vernaux entry: (file offset, version index, name offset, name).
    aux_entries = []
    vn = verneed["offset"]
    for _ in range(verneed["info"]):
        _vn_version, vn_cnt, _vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, vn)
        va = vn + vn_aux
        for _ in range(vn_cnt):
            _hash, _flags, other, name, va_next = struct.unpack_from("<IHHII", data, va)
            aux_entries.append((va, other, name, c_string(strtab, name)))
            va += va_next
        if vn_next == 0:
            break
        vn += vn_next
    index_name = {other: name for (_, other, _, name) in aux_entries}

    # Symbols: (dynsym index, name, version index).
    count = dynsym["size"] // dynsym["entsize"]
    symbols = []
    for i in range(count):
        (st_name,) = struct.unpack_from("<I", data, dynsym["offset"] + i * dynsym["entsize"])
        (ver,) = struct.unpack_from("<H", data, versym["offset"] + 2 * i)
        symbols.append((i, c_string(strtab, st_name), ver & ~VERSYM_HIDDEN))

    actions = []
    cleared = set()

    # Step 1: clear the version of SYMBOL where it is FROM_VERSION.
    for (i, name, ver) in symbols:
        if name == symbol and index_name.get(ver) == from_version:
            actions.append(f"cleared version {from_version.decode()} of {symbol.decode()} (dynsym #{i})")
            cleared.add(i)
            if not check:
                struct.pack_into("<H", data, versym["offset"] + 2 * i, VER_NDX_GLOBAL)

    # Step 2: rename the FROM_VERSION need to TO_VERSION, once nothing references it any more.
    targets = [(va, other) for (va, other, _, name) in aux_entries if name == from_version]
    for (va, other) in targets:
        users = [name.decode() for (i, name, ver) in symbols if ver == other and i not in cleared]
        if users:
            raise SystemExit(f"{from_version.decode()} is still needed by {', '.join(users[:5])}; refusing")
        to_offsets = [name_off for (_, _, name_off, name) in aux_entries if name == to_version]
        if to_offsets:
            to_offset = to_offsets[0]
        else:
            found = strtab.find(b"\0" + to_version + b"\0")
            if found < 0:
                raise SystemExit(f"{to_version.decode()} is not in .dynstr; cannot rename without growing it")
            to_offset = found + 1
        actions.append(f"renamed version need {from_version.decode()} -> {to_version.decode()} "
                       f"(.gnu.version_r entry {va - verneed['offset']:#x}, hash {elf_hash(to_version):#x})")
        if not check:
            struct.pack_into("<I", data, va, elf_hash(to_version))
            struct.pack_into("<I", data, va + 8, to_offset)

    if check:
        for a in actions:
            print(f"would have {a}")
        return 1 if actions else 0
    if not actions:
        print(f"{path}: no {from_version.decode()} need left; nothing to do")
        return 0
    with open(path, "r+b") as f:
        f.write(data)
    for a in actions:
        print(f"{path}: {a}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
