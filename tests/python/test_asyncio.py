"""aget_event and aiter_events: waits in asyncio's loop on the bus's socket, no thread per waiter."""
import asyncio
import threading

import pytest

import tagbus
from conftest import DEADLINE, synced


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


async def until(condition, what):
    """Gives the loop a turn (the waiter tasks read their sockets) until `condition` holds;
    AssertionError once DEADLINE has passed. No fixed sleep: each turn ends as soon as the loop has
    run what was ready."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not condition():
        assert loop.time() < end, f"{what} did not happen within {DEADLINE} s"
        await asyncio.sleep(0)


async def in_their_waits(buses, sender):
    """Returns once each bus's aget_event task is inside its wait: each subscribes to mark/, a
    mark/ event is fired, and each task has read it off the socket into its pending queue."""
    for b in buses:
        b.subscribe("mark/")
    assert sender.fire_event({}, "mark/1")
    await until(lambda: all(b.pending == 1 for b in buses), "every waiter reading the bus")


def test_many_waiters_in_one_thread_each_get_their_event(bus):
    async def main():
        waiters = [synced(tagbus.MasterEvent(bus.sock_dir)) for _ in range(20)]
        before = threading.active_count()
        tasks = [asyncio.create_task(w.aget_event(wait=DEADLINE, tag=f"a/{i}/", full=True))
                 for i, w in enumerate(waiters)]
        sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
        await in_their_waits(waiters, sender)  # all twenty wait at once, in this one thread
        assert not any(t.done() for t in tasks)
        for i in reversed(range(20)):
            assert sender.fire_event({"i": i}, f"a/{i}/x")
        got = await asyncio.gather(*tasks)
        assert threading.active_count() == before  # no thread was started for the waits
        return got

    got = run(main())
    assert [(g["tag"], g["data"]["i"]) for g in got] == [(f"a/{i}/x", i) for i in range(20)]


def test_the_wait_ends_with_none_and_shrinks_on_noise(bus):
    async def main():
        ev = synced(tagbus.MasterEvent(bus.sock_dir))
        loop = asyncio.get_running_loop()
        sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
        noisy = True

        def noise():  # an event on every turn of the loop while the wait goes on
            if noisy:
                sender.fire_event({}, "noise/1")
                loop.call_soon(noise)

        loop.call_soon(noise)
        start = loop.time()
        got = await ev.aget_event(wait=0.5, tag="never/")
        took = loop.time() - start
        noisy = False
        return got, took

    got, took = run(main())
    assert got is None
    assert 0.5 <= took < 0.5 + DEADLINE / 2  # ended at its deadline although noise kept coming


def test_no_block_pending_queue_and_match_types(bus):
    async def main():
        ev = synced(tagbus.MasterEvent(bus.sock_dir))
        ev.subscribe("keep/")
        assert await ev.aget_event(no_block=True) is None
        ev.fire_event({"k": 1}, "keep/1")
        ev.fire_event({"w": 1}, "salt/job/1/ret/web1")
        got = await ev.aget_event(wait=DEADLINE, tag="/web1", match_type="endswith", full=True)
        assert got["tag"] == "salt/job/1/ret/web1"
        kept = await ev.aget_event(wait=DEADLINE, tag="keep/", full=True)  # from the pending queue
        return kept

    assert run(main())["data"]["k"] == 1


def test_aiter_events_and_cancel(bus):
    async def main():
        ev = synced(tagbus.MasterEvent(bus.sock_dir))
        for i in range(5):
            ev.fire_event({"i": i}, f"it/{i}")
        seen = []
        async for data in ev.aiter_events(tag="it/"):
            seen.append(data["i"])
            if len(seen) == 5:
                break
        waiting = asyncio.create_task(ev.aget_event(wait=0, tag="never/"))
        await in_their_waits([ev], ev)  # nothing can answer it: cancelled inside its wait
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        ev.fire_event({"after": True}, "after/cancel")  # the object still works
        return seen, await ev.aget_event(wait=DEADLINE, tag="after/")

    seen, after = run(main())
    assert seen == [0, 1, 2, 3, 4]
    assert after["after"] is True


def test_interrupt_from_another_thread_ends_an_async_wait(bus):
    async def main():
        ev = synced(tagbus.MasterEvent(bus.sock_dir))
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, lambda: threading.Thread(target=ev.interrupt).start())
        return await ev.aget_event(wait=0, tag="never/")

    assert run(main()) is None


def test_a_restarted_bus_is_reconnected_while_waiting_async(bus):
    async def main():
        ev = synced(tagbus.MasterEvent(bus.sock_dir))
        bus.stop()
        assert await ev.aget_event(wait=0.3, tag="x") is None
        bus.start()
        sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
        n = 0
        while True:  # bounded by run()'s deadline
            sender.fire_event({"n": n}, "after/restart")
            got = await ev.aget_event(wait=0.3, tag="after/")
            if got is not None:
                return ev.gaps
            n += 1

    assert run(main()) == 1
