// event-bridge's spool (issue 13): every event the bridge takes from the bus is appended here
// first and published from here, in order; it leaves when the engine acknowledged it. So a bridge
// killed and restarted resends exactly what was not acknowledged, under the same message ids
// (the engine removes the duplicates), and events wait here while the engine is away.
//
// On disk (a folder): segment files `<first index, 20 digits>.seg` of records
//   u32 length | u32 CRC-32C of the body | body: u64 index, then msg_id, subject, tag, stamp,
//   format, payload, each as u32 length + bytes              (little-endian)
// and `acked`, the index below which every record was acknowledged (written by rename).
// A torn record at the end of the last segment (the machine crashed during a write) is cut off
// and reported. Durability: records are written (write(2)) as each batch from the bus is taken,
// so a killed process loses nothing it took; they are fdatasync()ed every `sync_interval` and at
// close, so a crashed machine loses at most that much.
//
// Without a folder the spool is in memory: the same order and bound, lost with the process.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tagbus/result.hpp"

namespace tagbus::inline v0::engine {

struct spool_record {
    std::uint64_t index = 0;  ///< given by append()
    std::string msg_id, subject, tag, stamp, format, payload;
    std::size_t size() const {
        return 8 + 6 * 4 + msg_id.size() + subject.size() + tag.size() + stamp.size() + format.size() + payload.size();
    }
};

class spool {
public:
    /// Opens (creating) the folder, recovers what a previous run left. `notes` receives lines for
    /// the log ("spool: 1200 events not acknowledged by the last run; resending them", "spool: cut
    /// a torn record ..."). Errors: errc::io naming the folder or file.
    static result<spool> open(const std::string& dir, std::uint64_t max_bytes, std::vector<std::string>& notes);
    static spool in_memory(std::uint64_t max_bytes);

    spool(spool&&) noexcept;
    spool& operator=(spool&&) noexcept;
    ~spool();

    /// Appends a record (its index is set). false when it does not fit under max_bytes: nothing
    /// is kept then (the caller counts the loss). Errors: errc::io (a write failed).
    result<bool> append(spool_record& r);
    /// Writes what append() buffered (called once per batch taken from the bus).
    result<void> flush();
    /// The next record not yet handed out, in order; nullopt when every record was handed out.
    result<std::optional<spool_record>> next();
    /// Hands out again, from the first record not acknowledged (after the engine failed: order
    /// is kept by resending everything after the failure). Records acknowledged meanwhile are
    /// skipped.
    void rewind();
    /// The engine acknowledged record `index` (in any order).
    void acknowledged(std::uint64_t index);
    /// fdatasync()s the records and writes the acknowledgment mark.
    result<void> sync();

    std::uint64_t bytes() const;    ///< on disk (or in memory) now
    std::uint64_t waiting() const;  ///< records not acknowledged
    std::uint64_t handed_out_unacked() const;
    bool on_disk() const;
    const std::string& dir() const;

private:
    spool();
    struct impl;
    std::unique_ptr<impl> p_;
};

/// CRC-32C (Castagnoli), for the spool's records.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0);

}  // namespace tagbus::engine
