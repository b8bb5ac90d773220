// A minimal, bounds-checked ZIP reader for numpy .npz archives (private to the importers).
// Supports what np.savez / np.savez_compressed write: single-disk archives whose members are
// stored or deflated. Zip64 archives (members over 4 GiB or over 65535 members), encryption
// and other compression methods are rejected with Error{bad_input}. Every offset and size
// read from the archive is checked against the buffer: the input is untrusted (and fuzzed).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace moeplan::trace::zip {

struct Member {
  std::string name;
  std::uint16_t method = 0;  // 0 stored, 8 deflate
  std::uint32_t crc32 = 0;
  std::uint32_t compressed_size = 0;
  std::uint32_t size = 0;    // uncompressed
  std::uint64_t data_offset = 0;  // of the (compressed) data within the archive
};

// The members of an archive, in central-directory order. `path` names the archive in errors.
std::vector<Member> list_members(std::span<const char> archive, const std::string& path);

// The uncompressed bytes of one member of list_members(archive, path); checks size and CRC-32.
std::vector<char> extract(std::span<const char> archive, const Member& member,
                          const std::string& path);

}  // namespace moeplan::trace::zip
