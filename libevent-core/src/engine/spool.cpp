#include "engine/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace tagbus::inline v0::engine {

std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

namespace {

constexpr std::size_t header_bytes = 8;
constexpr std::uint32_t max_record = 64u << 20;

void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint64_t get(const char* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
}

void encode(const spool_record& r, std::string& out) {
    const std::size_t at = out.size();
    out.append(header_bytes, '\0');
    put64(out, r.index);
    for (const std::string* f : {&r.msg_id, &r.subject, &r.tag, &r.stamp, &r.format, &r.payload}) {
        put32(out, static_cast<std::uint32_t>(f->size()));
        out += *f;
    }
    const std::size_t body = out.size() - at - header_bytes;
    const std::uint32_t crc = crc32c(out.data() + at + header_bytes, body);
    for (int i = 0; i < 4; ++i) {
        out[at + i] = static_cast<char>((body >> (8 * i)) & 0xFF);
        out[at + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
    }
}

enum class parsed { ok, need_more, bad };

// One record at the start of `buf`; `used` is its length with the header.
parsed decode(std::string_view buf, spool_record& r, std::size_t& used, std::string& why) {
    if (buf.size() < header_bytes) return parsed::need_more;
    const std::uint64_t len = get(buf.data(), 4);
    const std::uint32_t crc = static_cast<std::uint32_t>(get(buf.data() + 4, 4));
    if (len < 8 + 6 * 4 || len > max_record) {
        why = "a record length of " + std::to_string(len) + " bytes";
        return parsed::bad;
    }
    if (buf.size() < header_bytes + len) return parsed::need_more;
    const char* p = buf.data() + header_bytes;
    if (crc32c(p, len) != crc) {
        why = "a record whose checksum does not match";
        return parsed::bad;
    }
    const char* end = p + len;
    r.index = get(p, 8);
    p += 8;
    for (std::string* f : {&r.msg_id, &r.subject, &r.tag, &r.stamp, &r.format, &r.payload}) {
        if (end - p < 4) return why = "a record cut inside its fields", parsed::bad;
        const std::uint64_t n = get(p, 4);
        p += 4;
        if (static_cast<std::uint64_t>(end - p) < n) return why = "a record cut inside its fields", parsed::bad;
        f->assign(p, n);
        p += n;
    }
    if (p != end) return why = "a record with bytes after its fields", parsed::bad;
    used = header_bytes + len;
    return parsed::ok;
}

std::string seg_name(std::uint64_t first) {
    char b[40];
    std::snprintf(b, sizeof b, "%020llu.seg", static_cast<unsigned long long>(first));
    return b;
}

failure io_error(const std::string& what, const std::string& path) {
    return {errc::io, "spool: cannot " + what + " " + path + ": " + std::strerror(errno)};
}

result<void> write_all(int fd, const char* p, std::size_t n, const std::string& path) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return io_error("write", path);
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return {};
}

}  // namespace

struct spool::impl {
    struct segment {
        std::uint64_t first;
        std::string path;
        std::uint64_t size;
    };
    std::string dir;
    std::uint64_t max = 0;
    std::uint64_t segment_bytes = 64u << 20;
    int lock_fd = -1;

    std::deque<segment> segs;  // on disk, oldest first; the last one is appended to
    int write_fd = -1;
    std::string wbuf;
    std::uint64_t next_index = 1;

    std::uint64_t mark = 1;           // every index below is acknowledged
    std::deque<bool> done;            // for [mark, mark + done.size())
    std::uint64_t read_index = 1;     // next index next() looks at
    std::uint64_t mark_written = 0;   // what the `acked` file says

    // Reading back (disk).
    std::size_t read_seg = 0;  // position in segs
    int read_fd = -1;
    std::uint64_t read_off = 0;  // in that segment's file, where rbuf starts
    std::string rbuf;
    std::size_t rpos = 0;

    // Memory mode: every record not acknowledged, from `mark`.
    std::deque<spool_record> mem;
    std::uint64_t mem_bytes = 0;

    bool disk() const { return !dir.empty(); }

    ~impl() {
        if (disk()) {
            (void)flush();
            (void)sync();
        }
        if (write_fd >= 0) ::close(write_fd);
        if (read_fd >= 0) ::close(read_fd);
        if (lock_fd >= 0) ::close(lock_fd);
    }

    std::uint64_t bytes() const {
        if (!disk()) return mem_bytes;
        std::uint64_t b = wbuf.size();
        for (const auto& s : segs) b += s.size;
        return b;
    }

    result<void> flush() {
        if (wbuf.empty()) return {};
        if (auto r = write_all(write_fd, wbuf.data(), wbuf.size(), segs.back().path); !r) return r;
        segs.back().size += wbuf.size();
        wbuf.clear();
        return {};
    }

    result<void> sync() {
        if (!disk()) return {};
        if (auto r = flush(); !r) return r;
        if (write_fd >= 0 && ::fdatasync(write_fd) != 0) return io_error("sync", segs.back().path);
        if (mark != mark_written) {
            const std::string tmp = dir + "/acked.tmp", path = dir + "/acked";
            int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0) return io_error("write", tmp);
            const std::string text = std::to_string(mark) + "\n";
            auto w = write_all(fd, text.data(), text.size(), tmp);
            ::close(fd);
            if (!w) return w;
            if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename", tmp);
            mark_written = mark;
        }
        return {};
    }

    result<void> start_segment() {
        if (auto r = flush(); !r) return r;
        if (write_fd >= 0) {
            ::fdatasync(write_fd);
            ::close(write_fd);
        }
        segment s{next_index, dir + "/" + seg_name(next_index), 0};
        write_fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (write_fd < 0) return io_error("create", s.path);
        segs.push_back(std::move(s));
        return {};
    }

    void drop_acknowledged_segments() {
        // A segment goes once the next one starts at or below the mark (all of it acknowledged).
        while (segs.size() > 1 && segs[1].first <= mark) {
            ::unlink(segs.front().path.c_str());
            segs.pop_front();
            if (read_seg > 0) --read_seg;
            else if (read_fd >= 0) {  // the reader was in it: it moves on by itself
                ::close(read_fd);
                read_fd = -1;
                read_off = 0;
                rbuf.clear();
                rpos = 0;
            }
        }
    }

    // Positions the reader at the start of the segment holding `index`.
    void seek(std::uint64_t index) {
        if (read_fd >= 0) ::close(read_fd);
        read_fd = -1;
        read_seg = 0;
        for (std::size_t i = 0; i < segs.size(); ++i)
            if (segs[i].first <= index) read_seg = i;
        read_off = 0;
        rbuf.clear();
        rpos = 0;
        read_index = index;
    }

    // The next record in the files at or after read_index (skipping lower indices).
    result<std::optional<spool_record>> read_disk() {
        for (;;) {
            if (read_seg >= segs.size()) return std::optional<spool_record>();
            const segment& s = segs[read_seg];
            if (read_fd < 0) {
                read_fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
                if (read_fd < 0) return io_error("open", s.path);
                read_off = 0;
                rbuf.clear();
                rpos = 0;
            }
            spool_record r;
            std::size_t used = 0;
            std::string why;
            switch (decode(std::string_view(rbuf).substr(rpos), r, used, why)) {
                case parsed::ok:
                    rpos += used;
                    if (r.index < read_index) continue;
                    return std::optional<spool_record>(std::move(r));
                case parsed::bad:
                    return failure{errc::io, "spool: " + s.path + " holds " + why + " at byte " +
                                                 std::to_string(read_off + rpos) + " (written by this run: a disk fault?)"};
                case parsed::need_more: break;
            }
            // Refill from the file, up to what this segment holds on disk.
            const std::uint64_t have_end = read_off + rbuf.size();
            if (have_end >= s.size) {
                if (read_seg + 1 < segs.size()) {  // finished with this segment
                    ::close(read_fd);
                    read_fd = -1;
                    ++read_seg;
                    continue;
                }
                return std::optional<spool_record>();  // caught up with the writer
            }
            rbuf.erase(0, rpos);
            read_off += rpos;
            rpos = 0;
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(s.size - (read_off + rbuf.size()), 1u << 20));
            const std::size_t at = rbuf.size();
            rbuf.resize(at + want);
            ssize_t n = ::pread(read_fd, rbuf.data() + at, want, static_cast<off_t>(read_off + at));
            if (n < 0) {
                rbuf.resize(at);
                if (errno == EINTR) continue;
                return io_error("read", s.path);
            }
            rbuf.resize(at + static_cast<std::size_t>(n));
            if (n == 0) return failure{errc::io, "spool: " + s.path + " is shorter than expected (changed by someone else?)"};
        }
    }

    bool is_done(std::uint64_t index) const {
        return index < mark || (index - mark < done.size() && done[index - mark]);
    }
};

spool::spool() : p_(std::make_unique<impl>()) {}
spool::spool(spool&&) noexcept = default;
spool& spool::operator=(spool&&) noexcept = default;
spool::~spool() = default;

spool spool::in_memory(std::uint64_t max_bytes) {
    spool s;
    s.p_->max = max_bytes;
    return s;
}

result<spool> spool::open(const std::string& dir, std::uint64_t max_bytes, std::vector<std::string>& notes) {
    spool s;
    impl& p = *s.p_;
    p.dir = dir;
    p.max = max_bytes;
    // Segments of an eighth of the bound (4 KiB to 64 MiB): the one being written is never removed,
    // so it must be small against the bound, or acknowledged records in it would fill the spool.
    p.segment_bytes = std::clamp<std::uint64_t>(max_bytes / 8, 4096, 64u << 20);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return io_error("create the folder", dir);
    const std::string lock = dir + "/lock";
    p.lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (p.lock_fd < 0) return io_error("open", lock);
    if (::flock(p.lock_fd, LOCK_EX | LOCK_NB) != 0)
        return failure{errc::config, "spool " + dir + " is in use by another event-bridge (give each its own --spool)"};

    // The acknowledgment mark.
    if (FILE* f = std::fopen((dir + "/acked").c_str(), "r")) {
        unsigned long long m = 0;
        if (std::fscanf(f, "%llu", &m) == 1 && m > 0) p.mark = p.mark_written = m;
        std::fclose(f);
    }
    // The segments, in index order.
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return io_error("read the folder", dir);
    std::vector<std::uint64_t> firsts;
    while (dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n.size() == 24 && n.substr(20) == ".seg" &&
            std::all_of(n.begin(), n.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
            firsts.push_back(std::stoull(std::string(n.substr(0, 20))));
    }
    ::closedir(d);
    std::sort(firsts.begin(), firsts.end());
    std::uint64_t last_index = 0;
    std::uint64_t waiting = 0;
    for (std::size_t i = 0; i < firsts.size(); ++i) {
        impl::segment seg{firsts[i], dir + "/" + seg_name(firsts[i]), 0};
        int fd = ::open(seg.path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) return io_error("open", seg.path);
        std::string data;
        char buf[1 << 16];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                ::close(fd);
                return io_error("read", seg.path);
            }
            if (n == 0) break;
            data.append(buf, static_cast<std::size_t>(n));
        }
        std::size_t pos = 0;
        spool_record r;
        std::string why;
        for (;;) {
            std::size_t used = 0;
            parsed st = decode(std::string_view(data).substr(pos), r, used, why);
            if (st == parsed::ok) {
                pos += used;
                last_index = r.index;
                if (r.index >= p.mark) ++waiting;
                continue;
            }
            if (pos < data.size()) {
                // A torn or damaged tail: what a crash in the middle of a write leaves. The bytes
                // after it cannot be trusted; they are cut off and the loss is reported.
                notes.push_back("spool: cut " + std::to_string(data.size() - pos) + " bytes at the end of " + seg.path +
                                " (" + (st == parsed::need_more ? std::string("a record torn by a crash") : why) +
                                "); events after index " + std::to_string(last_index) + " in it are lost");
                if (::ftruncate(fd, static_cast<off_t>(pos)) != 0) {
                    ::close(fd);
                    return io_error("truncate", seg.path);
                }
            }
            break;
        }
        ::close(fd);
        seg.size = pos;
        p.segs.push_back(std::move(seg));
    }
    p.next_index = std::max<std::uint64_t>({last_index + 1, p.mark, p.segs.empty() ? 1 : p.segs.back().first});
    if (p.mark > p.next_index) p.mark = p.next_index;
    p.drop_acknowledged_segments();
    if (!p.segs.empty()) {
        p.write_fd = ::open(p.segs.back().path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        if (p.write_fd < 0) return io_error("open", p.segs.back().path);
    }
    p.seek(p.mark);
    if (waiting > 0)
        notes.push_back("spool " + dir + ": " + std::to_string(waiting) +
                        " events were not acknowledged by the last run; sending them first");
    return s;
}

result<bool> spool::append(spool_record& r) {
    impl& p = *p_;
    const std::uint64_t size = header_bytes + r.size();
    if (p.bytes() + size > p.max) return false;
    r.index = p.next_index++;
    if (!p.disk()) {
        p.mem_bytes += size;
        p.mem.push_back(r);
        return true;
    }
    if (p.segs.empty() || p.segs.back().size + p.wbuf.size() >= p.segment_bytes)
        if (auto s = p.start_segment(); !s) return s.error();
    encode(r, p.wbuf);
    if (p.wbuf.size() >= (1u << 20))
        if (auto f = p.flush(); !f) return f.error();
    return true;
}

result<void> spool::flush() { return p_->flush(); }

result<std::optional<spool_record>> spool::next() {
    impl& p = *p_;
    if (!p.disk()) {
        while (p.read_index < p.next_index) {
            const std::uint64_t i = p.read_index++;
            if (!p.is_done(i)) return std::optional<spool_record>(p.mem[i - p.mark]);
        }
        return std::optional<spool_record>();
    }
    if (p.read_index >= p.next_index) return std::optional<spool_record>();
    if (auto f = p.flush(); !f) return f.error();
    for (;;) {
        auto r = p.read_disk();
        if (!r || !*r) return r;
        p.read_index = (*r)->index + 1;
        if (!p.is_done((*r)->index)) return r;
    }
}

void spool::rewind() { p_->disk() ? p_->seek(p_->mark) : void(p_->read_index = p_->mark); }

void spool::acknowledged(std::uint64_t index) {
    impl& p = *p_;
    if (index < p.mark) return;
    const std::uint64_t off = index - p.mark;
    if (p.done.size() <= off) p.done.resize(off + 1, false);
    p.done[off] = true;
    while (!p.done.empty() && p.done.front()) {
        p.done.pop_front();
        if (!p.disk() && !p.mem.empty()) {
            p.mem_bytes -= header_bytes + p.mem.front().size();
            p.mem.pop_front();
        }
        ++p.mark;
    }
    if (p.disk()) p.drop_acknowledged_segments();
}

result<void> spool::sync() { return p_->sync(); }

std::uint64_t spool::bytes() const { return p_->bytes(); }
std::uint64_t spool::waiting() const { return p_->next_index - p_->mark; }
std::uint64_t spool::handed_out_unacked() const { return p_->read_index - p_->mark; }
bool spool::on_disk() const { return p_->disk(); }
const std::string& spool::dir() const { return p_->dir; }

}  // namespace tagbus::engine
