#!/usr/bin/python3
"""Regenerates the tiny numpy fixtures of the .npy/.npz importer tests and bad-input corpus.

Run from the repository root with Debian's python3 + python3-numpy:
    /usr/bin/python3 scripts/make_npy_fixtures.py
Writes tests/data/npy/* (good inputs, checked value by value in tests/test_import_npy.cpp) and
tests/corpus/npy/*, tests/corpus/npz/* (bad inputs listed in their MANIFEST.tsv). Every array
value follows ref_id() below, which the C++ tests recompute.
"""
import io
import json
import os
import struct
import zipfile

import numpy as np

DATA = "tests/data/npy"
CORPUS = "tests/corpus"


def ref_id(t, l, s, experts=16):
    """The expert id at token t, MoE layer l, slot s of every good fixture."""
    return (t * 7 + l * 3 + s * 5) % experts


def ref_array(tokens, layers, k, dtype, experts=16):
    a = np.zeros((tokens, layers, k), dtype=dtype)
    for t in range(tokens):
        for l in range(layers):
            for s in range(k):
                a[t, l, s] = ref_id(t, l, s, experts)
    return a


def npy_bytes(a, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "w" if isinstance(data, str) else "wb"
    with open(path, mode) as f:
        f.write(data)


def savez(path, compressed=False, **arrays):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)


def good():
    write(f"{DATA}/u8.npy", npy_bytes(ref_array(5, 3, 2, np.uint8)))
    write(f"{DATA}/u8.npy.phases.json", json.dumps(
        {"prefill_tokens": 3, "num_experts": 16, "model": "tiny-moe",
         "moe_layer_ids": [1, 3, 5], "num_layers": 6}))
    # int16 in format 2.0 and no sidecar: all 4 tokens are prefill.
    write(f"{DATA}/i16_v2.npy", npy_bytes(ref_array(4, 2, 1, np.int16), version=(2, 0)))
    write(f"{DATA}/i64.npy", npy_bytes(ref_array(3, 2, 2, np.int64)))
    write(f"{DATA}/u16_fortran.npy", npy_bytes(np.asfortranarray(ref_array(3, 2, 2, np.uint16))))
    write(f"{DATA}/i32_big.npy", npy_bytes(ref_array(2, 2, 2, np.dtype(">i4"))))
    # Two requests of different lengths; r1 has a phase split in the stored archive's sidecar.
    savez(f"{DATA}/stored.npz", r0=ref_array(3, 2, 2, np.uint8), r1=ref_array(4, 2, 2, np.int64))
    write(f"{DATA}/stored.npz.phases.json", json.dumps(
        {"requests": {"r1": {"prefill_tokens": 1}}, "model": "tiny-moe"}))
    savez(f"{DATA}/compressed.npz", True, r0=ref_array(3, 2, 2, np.uint8),
          r1=ref_array(4, 2, 2, np.int64))


def manifest(fmt, rows):
    lines = [f"# Bad {fmt} inputs (made by scripts/make_npy_fixtures.py): file, expected exit code, "
             "stderr substring[, extra CLI args]."]
    lines += ["\t".join(r) for r in rows]
    write(f"{CORPUS}/{fmt}/MANIFEST.tsv", "\n".join(lines) + "\n")


def corpus_npy():
    d = f"{CORPUS}/npy"
    ok = ref_array(3, 2, 2, np.uint8)
    write(f"{d}/float32.npy", npy_bytes(ok.astype(np.float32)))
    write(f"{d}/bool.npy", npy_bytes(ok.astype(bool)))
    write(f"{d}/ndim2.npy", npy_bytes(ok.reshape(3, 4)))
    write(f"{d}/truncated.npy", npy_bytes(ok)[:-3])
    raw = npy_bytes(ok)
    write(f"{d}/bad_header.npy", raw.replace(b"'shape': (3, 2, 2)", b"'shape': (3, 2, 2 "))
    write(f"{d}/bad_version.npy", raw[:6] + b"\x07\x00" + raw[8:])
    neg = ok.astype(np.int8)
    neg[1, 1, 0] = -1
    write(f"{d}/negative_id.npy", npy_bytes(neg))
    big = ok.astype(np.int32)
    big[2, 0, 1] = 70000
    write(f"{d}/id_over_65535.npy", npy_bytes(big))
    write(f"{d}/prefill_too_big.npy", raw)
    write(f"{d}/prefill_too_big.npy.phases.json", '{"prefill_tokens": 9}')
    write(f"{d}/sidecar_typo.npy", raw)
    write(f"{d}/sidecar_typo.npy.phases.json", '{"prefil_tokens": 1}')
    write(f"{d}/id_over_sidecar_experts.npy", raw)
    write(f"{d}/id_over_sidecar_experts.npy.phases.json", '{"num_experts": 8}')
    manifest("npy", [
        ("float32.npy", "3", "dtype"),
        ("bool.npy", "3", "unsupported dtype '|b1'"),
        ("ndim2.npy", "3", "expected 3 dimensions"),
        ("truncated.npy", "3", "truncated"),
        ("bad_header.npy", "3", "malformed npy header"),
        ("bad_version.npy", "3", "unsupported npy format version 7.0"),
        ("negative_id.npy", "3", "token 1: layer 1, slot 0: expert id -1 is negative"),
        ("id_over_65535.npy", "3", "token 2: layer 0, slot 1: expert id 70000"),
        ("prefill_too_big.npy", "3", "prefill_tokens: 9 exceeds the 3 tokens"),
        ("sidecar_typo.npy", "3", "prefil_tokens: unknown key"),
        ("id_over_sidecar_experts.npy", "3", "exceeds the largest allowed id 7"),
    ])


def zip_bytes(members, compressed=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def corpus_npz():
    d = f"{CORPUS}/npz"
    a = ref_array(3, 2, 2, np.uint8)
    good = zip_bytes([("r0.npy", npy_bytes(a)), ("r1.npy", npy_bytes(a))])
    eocd = good.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<I", good, eocd + 16)[0]
    # Cut inside the central directory: the end record is gone.
    write(f"{d}/truncated_cd.npz", good[:cd + 20])
    # End record claims three entries but the directory holds two.
    more = bytearray(good)
    struct.pack_into("<HH", more, eocd + 8, 3, 3)
    write(f"{d}/missing_cd_entry.npz", bytes(more))
    write(f"{d}/float_member.npz", zip_bytes([("r0.npy", npy_bytes(a)),
                                              ("r1.npy", npy_bytes(a.astype(np.float32)))]))
    crc = bytearray(good)
    crc[cd - 1] ^= 0x01  # last data byte of r1
    write(f"{d}/crc_mismatch.npz", bytes(crc))
    write(f"{d}/shape_mismatch.npz", zip_bytes([("r0.npy", npy_bytes(a)),
                                                ("r1.npy", npy_bytes(ref_array(3, 3, 2, np.uint8)))]))
    write(f"{d}/not_npy_member.npz", zip_bytes([("r0.npy", npy_bytes(a)), ("notes.txt", b"hi")]))
    bad_deflate = bytearray(zip_bytes([("r0.npy", npy_bytes(a))], compressed=True))
    bad_deflate[40:48] = b"\xff" * 8  # inside the deflate stream of r0
    write(f"{d}/corrupt_deflate.npz", bytes(bad_deflate))
    bz = io.BytesIO()
    with zipfile.ZipFile(bz, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("r0.npy", npy_bytes(a))
    write(f"{d}/bzip2_member.npz", bz.getvalue())
    write(f"{d}/sidecar_unknown_member.npz", good)
    write(f"{d}/sidecar_unknown_member.npz.phases.json", '{"requests": {"r7": {"prefill_tokens": 1}}}')
    write(f"{d}/empty_archive.npz", zip_bytes([]))
    manifest("npz", [
        ("truncated_cd.npz", "3", "end of central directory record not found"),
        ("missing_cd_entry.npz", "3", "central directory entry 2"),
        ("float_member.npz", "3", "member \"r1.npy\": dtype: unsupported dtype '<f4'"),
        ("crc_mismatch.npz", "3", "CRC-32 mismatch"),
        ("shape_mismatch.npz", "3", "differs from the first member"),
        ("not_npy_member.npz", "3", "not a .npy member"),
        ("corrupt_deflate.npz", "3", "deflate"),
        ("bzip2_member.npz", "3", "unsupported zip compression method 12"),
        ("sidecar_unknown_member.npz", "3", "the archive has no member r7.npy"),
        ("empty_archive.npz", "3", "archive holds no arrays"),
    ])


if __name__ == "__main__":
    good()
    corpus_npy()
    corpus_npz()
