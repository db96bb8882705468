"""The SIMD kernels must not call vector intrinsics out of line.

Each kernel body is generic over the vector type and `#[inline(always)]` into a wrapper
compiled with the target features (`simd::multiversion!`). A closure inside such a body is a
function of its own, compiled *without* those features: where LLVM does not inline it, every
`_mm256_*` operation in it becomes a call. Nothing is wrong with the results, only the speed
— JS from logits on rows of more than 16 logits ran at ~200 ns a logit, 60–110× logsumexp,
unnoticed by the benchmarks' headline shape (2026-12-04). So this checks the built extension
itself, deterministically: no `core::core_arch` intrinsic may exist as a function of its own
in its symbol table (`_xgetbv` and `__cpuid`, used by the feature detection outside the
kernels, are the exceptions).
"""

import struct
from pathlib import Path
from typing import List

import pytest

from fastentropy import _core

# runtime feature detection, outside the kernels: core::core_arch::x86::xsave::_xgetbv (and
# __cpuid, should a toolchain leave it out of line)
ALLOWED = ("xsave", "cpuid")


def _elf_function_names(path: Path) -> List[str]:
    """Names of the defined functions in the `.symtab` of a little-endian ELF64 file."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a little-endian ELF64 file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    symtabs = [s for s in sections if s[1] == 2]  # SHT_SYMTAB
    assert symtabs, f"{path.name} has no symbol table (stripped): this check needs it"
    _, _, _, _, offset, size, link, _, _, entsize = symtabs[0]
    strtab_offset = sections[link][4]
    names = []
    for at in range(offset, offset + size, entsize):
        name, info, _, shndx, _, _ = struct.unpack_from("<IBBHQQ", data, at)
        if info & 0xF == 2 and shndx != 0:  # STT_FUNC, defined here
            end = data.index(b"\0", strtab_offset + name)
            names.append(data[strtab_offset + name:end].decode("utf-8", "replace"))
    return names


def test_no_vector_intrinsic_is_called_out_of_line() -> None:
    path = Path(_core.__file__)
    if path.read_bytes()[:4] != b"\x7fELF":
        pytest.skip("the check reads ELF symbol tables (Linux builds, as CI's)")
    names = _elf_function_names(path)
    assert len(names) > 1000, f"only {len(names)} function symbols: not the extension's own table?"
    out_of_line = sorted(n for n in names if "core_arch" in n and not any(a in n for a in ALLOWED))
    assert not out_of_line, (
        f"{len(out_of_line)} vector intrinsics exist as functions of their own, so some kernel "
        "calls them (a closure or helper not inlined into its target-feature wrapper); find the "
        "callers with `objdump -dC _core*.so | grep 'call.*core_arch'`. First ones: "
        + ", ".join(out_of_line[:5])
    )
