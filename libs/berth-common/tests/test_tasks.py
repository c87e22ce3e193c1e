"""cancel_all ends tasks even when a cancellation is lost on the way."""
import asyncio

from berth_common.tasks import cancel_all


async def test_a_task_that_loses_a_cancellation_is_cancelled_again():
    lost = []

    async def loop_that_drops_one_cancel():
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost.append(True)  # as Python 3.11's wait_for does when its future completes
                asyncio.current_task().uncancel()

    async def well_behaved():
        await asyncio.sleep(3600)

    tasks = [asyncio.create_task(loop_that_drops_one_cancel()), asyncio.create_task(well_behaved())]
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_all(tasks, recheck_s=0.05), 5)
    assert lost == [True]
    assert all(t.cancelled() for t in tasks)


async def test_a_failed_task_does_not_stop_the_others_being_cancelled():
    async def fails():
        raise RuntimeError("boom")

    async def runs():
        await asyncio.sleep(3600)

    tasks = [asyncio.create_task(fails()), asyncio.create_task(runs())]
    await asyncio.sleep(0.01)
    await cancel_all(tasks)
    assert isinstance(tasks[0].exception(), RuntimeError)
    assert tasks[1].cancelled()
