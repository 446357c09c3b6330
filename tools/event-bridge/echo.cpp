#include "echo.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>

#include "bridge.hpp"
#include "cli.hpp"

namespace tagbus::bridge {

namespace {

struct ring_header {
    char magic[8];
    std::atomic<std::uint64_t> written;  // entries ever written
    char pad[48];
};
static_assert(sizeof(ring_header) == 64);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

constexpr char magic[8] = {'T', 'B', 'E', 'C', 'H', 'O', '1', '\0'};

std::uint64_t digest(std::string_view body) { return std::hash<std::string_view>{}(body); }

ring_header* header(void* map) { return static_cast<ring_header*>(map); }
// A slot holds the digest and, written after it, 1 + the entry's number: a reader takes the digest
// only once the number matches, so several `in` bridges may write at once.
struct slot {
    std::atomic<std::uint64_t> number;
    std::atomic<std::uint64_t> digest;
};
slot* slot_array(void* map) { return reinterpret_cast<slot*>(static_cast<char*>(map) + sizeof(ring_header)); }

}  // namespace

std::optional<echo_ring> echo_ring::for_sock_dir(const std::string& sock_dir) {
    const std::string path = sock_dir + "/.event-bridge-echo";
    const std::size_t size = sizeof(ring_header) + slots * sizeof(slot);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli::say(tool, "warning: cannot open " + path + " (" + std::strerror(errno) +
                           "): events that came in through a bridge cannot be told apart, so two buses "
                           "bridged both ways would loop");
        return std::nullopt;
    }
    // A new file is sized (zero-filled: an empty ring); ftruncate to the same size is harmless.
    struct stat st {};
    if (::fstat(fd, &st) != 0 || (static_cast<std::size_t>(st.st_size) != size && ::ftruncate(fd, static_cast<off_t>(size)) != 0)) {
        cli::say(tool, "warning: cannot size " + path + ": " + std::strerror(errno));
        ::close(fd);
        return std::nullopt;
    }
    void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) {
        cli::say(tool, "warning: cannot map " + path + ": " + std::strerror(errno));
        return std::nullopt;
    }
    ring_header* h = header(map);
    if (std::memcmp(h->magic, magic, sizeof magic) != 0) std::memcpy(h->magic, magic, sizeof magic);
    echo_ring r(map, size);
    r.seen_ = h->written.load(std::memory_order_acquire);  // only what is fired from now on
    return r;
}

echo_ring::echo_ring(echo_ring&& o) noexcept
    : map_(std::exchange(o.map_, nullptr)),
      size_(o.size_),
      seen_(o.seen_),
      set_(std::move(o.set_)),
      order_(std::move(o.order_)),
      unfinished_(std::move(o.unfinished_)) {}

echo_ring::~echo_ring() {
    if (map_ != nullptr) ::munmap(map_, size_);
}

void echo_ring::note(std::string_view body) {
    const std::uint64_t i = header(map_)->written.fetch_add(1, std::memory_order_acq_rel);
    slot& s = slot_array(map_)[i % slots];
    s.digest.store(digest(body), std::memory_order_relaxed);
    s.number.store(i + 1, std::memory_order_release);
}

void echo_ring::remember(std::uint64_t d) {
    if (set_.insert(d).second) order_.push_back(d);
    if (order_.size() > slots) {
        set_.erase(order_.front());
        order_.pop_front();
    }
}

bool echo_ring::contains(std::string_view body) {
    const std::uint64_t written = header(map_)->written.load(std::memory_order_acquire);
    // Slots claimed but not yet written when last read (another `in` bridge between its claim
    // and its write): read again now, or given up once far behind the head.
    for (std::size_t k = 0; k < unfinished_.size();) {
        const std::uint64_t i = unfinished_[k];
        const slot& s = slot_array(map_)[i % slots];
        if (s.number.load(std::memory_order_acquire) == i + 1) {
            remember(s.digest.load(std::memory_order_relaxed));
        } else if (written - i < slots / 2) {
            ++k;
            continue;
        }
        unfinished_[k] = unfinished_.back();
        unfinished_.pop_back();
    }
    if (written != seen_) {
        if (written < seen_ || written - seen_ > slots) seen_ = written > slots ? written - slots : 0;
        for (; seen_ < written; ++seen_) {
            const slot& s = slot_array(map_)[seen_ % slots];
            if (s.number.load(std::memory_order_acquire) != seen_ + 1) {
                unfinished_.push_back(seen_);  // its writer is between claiming and writing
                continue;
            }
            remember(s.digest.load(std::memory_order_relaxed));
        }
    }
    if (set_.empty()) return false;
    return set_.count(digest(body)) != 0;
}

}  // namespace tagbus::bridge
