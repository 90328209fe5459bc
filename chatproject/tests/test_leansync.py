"""The lean Queue and Event stand-ins behave as asyncio's own for what a connection does."""

import asyncio

import pytest

from chatproject.leansync import LeanFlag, LeanInbox


async def test_the_inbox_hands_items_over_in_order_and_waits_when_empty():
    inbox = LeanInbox()
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == ["a", "b"]
    assert inbox.empty()
    getting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not getting.done()
    inbox.put_nowait("c")
    assert await asyncio.wait_for(getting, 1) == "c"


async def test_a_cancelled_get_loses_nothing_put_afterwards():
    inbox = LeanInbox()
    abandoned = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    inbox.put_nowait("kept")
    assert await asyncio.wait_for(inbox.get(), 1) == "kept"


async def test_two_waiting_gets_each_receive_one_item():
    inbox = LeanInbox()
    first, second = asyncio.ensure_future(inbox.get()), asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert sorted(await asyncio.wait_for(asyncio.gather(first, second), 1)) == [1, 2]


async def test_the_flag_blocks_waiters_while_lowered_and_releases_them_all():
    flag = LeanFlag(raised=False)
    assert not flag.is_set()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    flag.clear()
    again = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not again.done()
    flag.set()
    await asyncio.wait_for(again, 1)
    await asyncio.wait_for(flag.wait(), 1)  # raised: returns at once
