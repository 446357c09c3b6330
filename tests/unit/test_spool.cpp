// engine/spool: event-bridge's spool (issue 13). Order, acknowledgments in any order, rewind,
// the bound, recovery after a process death (records written, the mark behind), a torn tail cut
// and reported, segments removed once acknowledged, the lock, the skim of a body's _stamp.
#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/spool.hpp"
#include "wire/skim.hpp"

using namespace tagbus;
using namespace tagbus::engine;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char t[] = "/tmp/tb-spool-XXXXXX";
        REQUIRE(mkdtemp(t) != nullptr);
        path = t;
    }
    ~temp_dir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
};

spool_record rec(int i, std::size_t pad = 10) {
    spool_record r;
    r.msg_id = "src.run." + std::to_string(i);
    r.subject = "salt.src.myco.ev";
    r.tag = "myco/ev";
    r.stamp = "2026-12-06T00:00:00.000001";
    r.format = "salt";
    r.payload = "myco/ev\n\n" + std::string(pad, 'x') + std::to_string(i);
    return r;
}

std::vector<std::string> drain_ids(spool& s) {
    std::vector<std::string> ids;
    for (;;) {
        auto r = s.next();
        REQUIRE(r);
        if (!*r) break;
        ids.push_back((*r)->msg_id);
    }
    return ids;
}

std::vector<std::string> seg_files(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    while (dirent* e = readdir(d))
        if (std::string(e->d_name).size() > 4 && std::string(e->d_name).ends_with(".seg")) out.push_back(e->d_name);
    closedir(d);
    return out;
}

}  // namespace

TEST_CASE("records come out in order, acknowledgments in any order move the mark") {
    for (bool disk : {false, true}) {
        CAPTURE(disk);
        temp_dir t;
        std::vector<std::string> notes;
        spool s = spool::in_memory(1 << 20);
        if (disk) {
            auto opened = spool::open(t.path + "/sp", 1 << 20, notes);
            REQUIRE(opened);
            s = std::move(*opened);
        }
        for (int i = 1; i <= 5; ++i) {
            auto r = rec(i);
            auto ok = s.append(r);
            REQUIRE(ok);
            CHECK(*ok);
            CHECK(r.index == static_cast<std::uint64_t>(i));
        }
        REQUIRE(s.flush());
        auto ids = drain_ids(s);
        CHECK(ids == std::vector<std::string>{"src.run.1", "src.run.2", "src.run.3", "src.run.4", "src.run.5"});
        CHECK(s.waiting() == 5);
        s.acknowledged(2);
        s.acknowledged(4);
        CHECK(s.waiting() == 5);  // 1 is not acknowledged: the mark stays
        s.rewind();
        CHECK(drain_ids(s) == std::vector<std::string>{"src.run.1", "src.run.3", "src.run.5"});
        s.acknowledged(1);
        CHECK(s.waiting() == 3);  // 1 and 2 below the mark now
        s.acknowledged(3);
        s.acknowledged(5);
        CHECK(s.waiting() == 0);
        s.rewind();
        CHECK(drain_ids(s).empty());
    }
}

TEST_CASE("the bound refuses what does not fit, and takes again once acknowledged") {
    spool s = spool::in_memory(1000);
    int kept = 0;
    for (int i = 1; i <= 50; ++i) {
        auto r = rec(i);
        auto ok = s.append(r);
        REQUIRE(ok);
        kept += *ok ? 1 : 0;
    }
    CHECK(kept > 0);
    CHECK(kept < 50);
    CHECK(s.bytes() <= 1000);
    for (auto& id : drain_ids(s)) (void)id;
    for (std::uint64_t i = 1; i <= static_cast<std::uint64_t>(kept); ++i) s.acknowledged(i);
    CHECK(s.bytes() == 0);
    auto r = rec(99);
    CHECK(*s.append(r));
}

TEST_CASE("a new run resends what the last one did not acknowledge, under the same ids") {
    temp_dir t;
    const std::string dir = t.path + "/sp";
    {
        std::vector<std::string> notes;
        auto s = spool::open(dir, 1 << 20, notes);
        REQUIRE(s);
        CHECK(notes.empty());
        for (int i = 1; i <= 10; ++i) {
            auto r = rec(i);
            REQUIRE(*s->append(r));
        }
        REQUIRE(s->flush());
        (void)drain_ids(*s);
        for (std::uint64_t i = 1; i <= 4; ++i) s->acknowledged(i);
        s->acknowledged(7);
        REQUIRE(s->sync());
        // Like a SIGKILL: the records were written, the mark says 5; 7's ack is not remembered.
    }
    std::vector<std::string> notes;
    auto s = spool::open(dir, 1 << 20, notes);
    REQUIRE(s);
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].find("6 events were not acknowledged") != std::string::npos);
    CHECK(drain_ids(*s) == std::vector<std::string>{"src.run.5", "src.run.6", "src.run.7", "src.run.8", "src.run.9", "src.run.10"});
    auto r = rec(11);
    REQUIRE(*s->append(r));
    CHECK(r.index == 11);  // indexes go on
}

TEST_CASE("a torn record at the end is cut off and reported; the records before it stay") {
    temp_dir t;
    const std::string dir = t.path + "/sp";
    {
        std::vector<std::string> notes;
        auto s = spool::open(dir, 1 << 20, notes);
        REQUIRE(s);
        for (int i = 1; i <= 3; ++i) {
            auto r = rec(i);
            REQUIRE(*s->append(r));
        }
    }
    auto segs = seg_files(dir);
    REQUIRE(segs.size() == 1);
    const std::string seg = dir + "/" + segs[0];
    // Half a record more, as a crash in the middle of a write leaves it.
    int fd = ::open(seg.c_str(), O_WRONLY | O_APPEND);
    REQUIRE(fd >= 0);
    const char half[] = "\x40\x00\x00\x00\x12\x34";
    REQUIRE(::write(fd, half, 6) == 6);
    ::close(fd);
    std::vector<std::string> notes;
    auto s = spool::open(dir, 1 << 20, notes);
    REQUIRE(s);
    REQUIRE(notes.size() == 2);
    CHECK(notes[0].find("cut 6 bytes at the end of") != std::string::npos);
    CHECK(notes[0].find("torn by a crash") != std::string::npos);
    CHECK(drain_ids(*s) == std::vector<std::string>{"src.run.1", "src.run.2", "src.run.3"});

    // A flipped byte inside a record: the checksum catches it, the rest of the file is cut.
    {
        int f = ::open(seg.c_str(), O_RDWR);
        char c;
        REQUIRE(::pread(f, &c, 1, 30) == 1);
        c ^= 0x01;
        REQUIRE(::pwrite(f, &c, 1, 30) == 1);
        ::close(f);
    }
    *s = spool::in_memory(1);  // release the lock
    notes.clear();
    auto s2 = spool::open(dir, 1 << 20, notes);
    REQUIRE(s2);
    REQUIRE(!notes.empty());
    CHECK(notes[0].find("checksum does not match") != std::string::npos);
    CHECK(drain_ids(*s2).empty());
}

TEST_CASE("segments go once every record in them is acknowledged") {
    temp_dir t;
    const std::string dir = t.path + "/sp";
    std::vector<std::string> notes;
    // 8 MiB bound: 1 MiB segments.
    auto s = spool::open(dir, 8 << 20, notes);
    REQUIRE(s);
    int n = 0;
    while (seg_files(dir).size() < 3) {
        auto r = rec(++n, 4000);
        REQUIRE(*s->append(r));
        REQUIRE(s->flush());
    }
    auto ids = drain_ids(*s);
    CHECK(ids.size() == static_cast<std::size_t>(n));
    for (std::uint64_t i = 1; i <= static_cast<std::uint64_t>(n); ++i) s->acknowledged(i);
    CHECK(seg_files(dir).size() == 1);  // the one being written stays
    CHECK(s->waiting() == 0);
}

TEST_CASE("a small spool whose records are acknowledged keeps taking new ones") {
    temp_dir t;
    std::vector<std::string> notes;
    auto s = spool::open(t.path + "/sp", 65536, notes);  // event-bridge's smallest --spool-max
    REQUIRE(s);
    // Forty times the bound goes through, each record acknowledged soon after it was handed out.
    std::uint64_t appended = 0;
    for (int i = 1; i <= 10000; ++i) {
        auto r = rec(i, 200);
        auto ok = s->append(r);
        REQUIRE(ok);
        REQUIRE(*ok);
        ++appended;
        REQUIRE(s->flush());
        for (;;) {
            auto n = s->next();
            REQUIRE(n);
            if (!*n) break;
            s->acknowledged((*n)->index);
        }
        CHECK(s->bytes() <= 65536);
    }
    CHECK(appended == 10000);
    CHECK(s->waiting() == 0);
    CHECK(seg_files(t.path + "/sp").size() <= 2);
}

TEST_CASE("one spool, one bridge") {
    temp_dir t;
    std::vector<std::string> notes;
    auto a = spool::open(t.path + "/sp", 1 << 20, notes);
    REQUIRE(a);
    auto b = spool::open(t.path + "/sp", 1 << 20, notes);
    REQUIRE(!b);
    CHECK(b.error().message.find("in use by another event-bridge") != std::string::npos);
}

TEST_CASE("crc32c is the Castagnoli CRC") {
    CHECK(crc32c("123456789", 9) == 0xE3069283u);  // the standard check value
}

TEST_CASE("packed_map_str finds a top-level str key without decoding the rest") {
    // {"a": [1, {"x": 2}], "_stamp": "2026", "b": 1.5}
    static const char raw[] = "\x83\xa1" "a" "\x92\x01\x81\xa1x\x02" "\xa6_stamp\xa4" "2026" "\xa1" "b" "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00";
    const std::string packed(raw, sizeof raw - 1);
    auto v = packed_map_str(packed, "_stamp");
    REQUIRE(v);
    CHECK(*v == "2026");
    CHECK(!packed_map_str(packed, "c"));
    CHECK(!packed_map_str(packed, "b"));               // not a str
    CHECK(!packed_map_str(packed.substr(0, 12), "_stamp"));  // cut short
    CHECK(!packed_map_str("\x92\x01\x02", "_stamp"));  // not a map
}
