#!/usr/bin/env python3
"""Regenerates the bad .moet files of tests/bad-inputs/moet/ and their MANIFEST.tsv.

    /usr/bin/python3 scripts/make_moet_fixtures.py build/moeplan

Starts from valid stores that moeplan writes from tests/bad-inputs/roundtrip/valid.jsonl
(plain and --compress), then damages them: flipped bytes (each checksum in turn), cuts,
wrong magic and version. Some cases recompute the checksums after the damage (xxh3 through
libxxhash, as moeplan does) so that the check *behind* the checksums is what fails: an expert
id out of range, duplicate request ids, inconsistent metadata, a bad zstd frame.
"""
import ctypes
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "bad-inputs", "moet")
SEED = os.path.join(ROOT, "tests", "bad-inputs", "roundtrip", "valid.jsonl")

_xxh = ctypes.CDLL("libxxhash.so.0")
_xxh.XXH3_64bits.restype = ctypes.c_uint64
_xxh.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def xxh3(b):
    return _xxh.XXH3_64bits(bytes(b), len(b))


# Layout (docs/trace-format.md): header 64 B, metadata JSON, directory of 64-byte entries.
def layout(b):
    meta_size, = struct.unpack_from("<Q", b, 16)
    count, = struct.unpack_from("<I", b, 32)
    directory = 64 + meta_size
    entries = []
    for i in range(count):
        e = directory + 64 * i
        name = bytes(b[e:e + 16]).rstrip(b"\0").decode()
        offset, stored = struct.unpack_from("<QQ", b, e + 24)
        entries.append((name, e, offset, stored))
    return meta_size, directory, entries


def repair(b):
    """Recomputes every checksum (blocks, directory, metadata, header)."""
    b = bytearray(b)
    meta_size, directory, entries = layout(b)
    for _, e, offset, stored in entries:
        struct.pack_into("<Q", b, e + 48, xxh3(b[offset:offset + stored]))
    struct.pack_into("<Q", b, 40, xxh3(b[directory:directory + 64 * len(entries)]))
    struct.pack_into("<Q", b, 24, xxh3(b[64:64 + meta_size]))
    struct.pack_into("<Q", b, 56, xxh3(b[0:56]))
    return b


def with_metadata(b, edit):
    """Replaces the metadata JSON by edit(json) and moves the directory and blocks after it."""
    meta_size, directory, entries = layout(b)
    meta = json.loads(bytes(b[64:64 + meta_size]))
    edit(meta)
    new_meta = json.dumps(meta, separators=(",", ":")).encode()
    shift = (64 + len(new_meta) + 64 * len(entries) + 63) // 64 * 64 - entries[0][2]
    head = bytearray(b[:64]) + new_meta + bytearray(b[directory:directory + 64 * len(entries)])
    struct.pack_into("<Q", head, 16, len(new_meta))
    body = bytearray(b[entries[0][2]:])
    out = head + bytearray(entries[0][2] + shift - len(head)) + body
    for i in range(len(entries)):
        e = 64 + len(new_meta) + 64 * i
        offset, = struct.unpack_from("<Q", out, e + 24)
        struct.pack_into("<Q", out, e + 24, offset + shift)
    return repair(out)


def flip(b, at):
    b = bytearray(b)
    b[at] ^= 0x01
    return b


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_moet_fixtures.py path/to/moeplan")
    moeplan = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        plain_path, packed_path = os.path.join(tmp, "p.moet"), os.path.join(tmp, "c.moet")
        subprocess.run([moeplan, "trace", "convert", SEED, "-o", plain_path, "--domain", "fixture"], check=True)
        subprocess.run([moeplan, "trace", "convert", SEED, "-o", packed_path, "--domain", "fixture",
                        "--compress"], check=True)
        plain = bytearray(open(plain_path, "rb").read())
        packed = bytearray(open(packed_path, "rb").read())
    meta_size, directory, entries = layout(plain)
    ids = next(e for e in entries if e[0] == "ids")
    cases = []

    def case(name, data, code, substring):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes(data))
        cases.append((name, code, substring))

    os.makedirs(OUT, exist_ok=True)
    case("empty.moet", b"", 3, "empty file")
    case("header_cut.moet", plain[:40], 3, "header: file too short for a .moet header")
    case("bad_magic.moet", b"MOETRACX" + plain[8:], 3, "unrecognised trace format")
    version = bytearray(plain)
    struct.pack_into("<I", version, 8, 2)
    case("version_2.moet", version, 3, "header: version: unsupported version 2")
    case("header_flag_flipped.moet", flip(plain, 12), 3, "header: checksum: header checksum mismatch")
    case("metadata_byte_flipped.moet", flip(plain, 64 + meta_size // 2), 3,
         "metadata: checksum: metadata checksum mismatch")
    case("directory_byte_flipped.moet", flip(plain, directory + 20), 3,
         "directory: checksum: block directory checksum mismatch")
    case("routing_byte_flipped.moet", flip(plain, ids[2] + ids[3] // 2), 3,
         "block \"ids\": checksum: checksum mismatch")
    case("truncated_routing.moet", plain[:ids[2] + ids[3] // 2], 3,
         "block \"ids\": offset: extends past end of file")
    case("truncated_metadata.moet", plain[:64 + meta_size // 2], 3, "metadata: extends past end of file")
    # Damage behind the checksums (recomputed after the edit).
    out_of_range = bytearray(plain)
    out_of_range[ids[2] + 3] = 9  # E = 8
    case("expert_id_out_of_range.moet", repair(out_of_range), 3, "expert: id 9 >= experts (8)")

    def dup(m):
        m["requests"]["id"][1] = m["requests"]["id"][0]
    case("duplicate_request_id.moet", with_metadata(plain, dup), 3, "id: duplicate request id \"r0\"")

    def more_tokens(m):
        m["requests"]["prefill_tokens"][1] += 1
    case("token_counts_exceed_routing.moet", with_metadata(plain, more_tokens), 3,
         "block \"ids\": raw_size: does not match the request token counts")

    def no_top_k(m):
        del m["model"]["top_k"]
    case("metadata_missing_top_k.moet", with_metadata(plain, no_top_k), 3, "invalid metadata JSON")

    def negative_experts(m):
        m["model"]["num_experts"] = -8
    case("metadata_negative_experts.moet", with_metadata(plain, negative_experts), 3,
         "metadata: model: invalid model shape")

    def huge_tokens(m):
        m["requests"]["decode_tokens"][0] = 4294967295
    case("metadata_huge_token_count.moet", with_metadata(plain, huge_tokens), 3,
         "does not match the request token counts")

    def nan_count(m):
        m["requests"]["prefill_tokens"][0] = 1.5
    case("metadata_fractional_count.moet", with_metadata(plain, nan_count), 3,
         "metadata: request 0: domain, prefill_tokens and decode_tokens must be non-negative integers")

    def overflow(m):
        # 2048 requests of 2^32 tokens x 64 layers x top-32768: 2^64 ids, which wraps to 0 in
        # 64 bits and would match an empty routing block.
        n = 2048
        m["model"].update(num_layers=0, moe_layer_ids=list(range(64)), num_experts=32768, top_k=32768)
        m["domains"] = ["fixture"]
        m["requests"] = {"id": [f"r{i}" for i in range(n)], "domain": [0] * n, "source": [""] * n,
                         "prefill_tokens": [4294967295] * n, "decode_tokens": [1] * n}
    wrapped = bytearray(plain)
    struct.pack_into("<IIQQQ", wrapped, ids[1] + 16, 0, 2, ids[2], 0, 0)  # elem_width 2, 0 bytes
    case("token_count_overflow.moet", with_metadata(wrapped[:ids[2]], overflow), 3,
         "metadata: requests: token counts too large (routing size overflows)")

    codec = bytearray(plain)
    struct.pack_into("<I", codec, ids[1] + 16, 7)
    case("unknown_codec.moet", repair(codec), 3, "block \"ids\": codec: unknown codec")
    # A block one byte off its 64-byte boundary (the ids would be read misaligned).
    shifted = bytearray(plain[:ids[2]]) + b"\0" + plain[ids[2]:]
    struct.pack_into("<Q", shifted, ids[1] + 24, ids[2] + 1)
    case("misaligned_block.moet", repair(shifted), 3, "block \"ids\": offset: not 64-byte aligned")
    _, _, pentries = layout(packed)
    pids = next(e for e in pentries if e[0] == "ids")
    zcut = bytearray(packed)
    struct.pack_into("<Q", zcut, pids[1] + 32, pids[3] - 3)  # the frame's stored size, cut short
    case("zstd_frame_cut.moet", repair(zcut), 3, "block \"ids\": zstd")
    case("compressed_payload_flipped.moet", flip(packed, pids[2] + pids[3] - 2), 3,
         "block \"ids\": checksum: checksum mismatch")

    with open(os.path.join(OUT, "MANIFEST.tsv"), "w") as f:
        f.write("# Bad .moet inputs (made by scripts/make_moet_fixtures.py): file, expected exit code, "
                "stderr substring[, extra CLI args].\n")
        for name, code, substring in cases:
            f.write(f"{name}\t{code}\t{substring}\n")
    print(f"wrote {len(cases)} files to {OUT}")


if __name__ == "__main__":
    main()
