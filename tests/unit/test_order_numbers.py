"""Order numbers come from blocks each process reserves on the order-number counter: unique
across threads and processes, readable, and a cart's creation writes the order alone."""

from __future__ import annotations

import threading
from pathlib import Path

from csp.aggregates.index import Counter
from csp.application import CspApplication
from csp.application.carts import FIRST_ORDER_NUMBER, ORDER_NUMBER_COUNTER, OrderNumbers
from csp.clock import SettableClock
from csp.persistence import eventsourcing_env, parse_database_url
from tests.support import ACTOR, make_world, memory_app


def sequence(number: str) -> int:
    return int(number.rsplit(" ", 1)[1])


def test_creating_carts_writes_the_order_alone_but_once_a_block(clock: SettableClock):
    w = make_world(memory_app(clock), clock)
    head = w.app.recorder.max_notification_id() or 0
    orders = [w.app.create_order(w.customer.id, actor=ACTOR) for _ in range(OrderNumbers.BLOCK + 1)]
    # one event per cart, and one counter event per block of numbers (two blocks here; the
    # first also starts the counter)
    assert (w.app.recorder.max_notification_id() or 0) - head == len(orders) + 1 + 2
    counter = w.app.load(Counter, Counter.id_for(ORDER_NUMBER_COUNTER), "counter")
    assert counter.value == FIRST_ORDER_NUMBER + 2 * OrderNumbers.BLOCK
    assert [sequence(o.number) for o in orders] == list(
        range(FIRST_ORDER_NUMBER + 1, FIRST_ORDER_NUMBER + 2 + OrderNumbers.BLOCK)
    )


def test_threads_never_share_a_number(clock: SettableClock):
    w = make_world(memory_app(clock), clock)
    numbers: list[str] = []
    lock = threading.Lock()

    def cart() -> None:
        for _ in range(15):
            n = w.app.create_order(w.customer.id, actor=ACTOR).number
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=cart) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(numbers) == 120
    assert len(set(numbers)) == 120


def test_two_processes_on_one_store_hand_out_disjoint_blocks(tmp_path: Path, clock: SettableClock):
    env = eventsourcing_env(parse_database_url(f"sqlite:///{tmp_path / 'csp.db'}"))
    a = CspApplication(env=env, clock=clock)
    b = CspApplication(env=env, clock=clock)
    try:
        w = make_world(a, clock)
        got = []
        for _ in range(OrderNumbers.BLOCK + 3):  # interleaved, each past its first block
            got.append(a.create_order(w.customer.id, actor=ACTOR).number)
            got.append(b.create_order(w.customer.id, actor=ACTOR).number)
        assert len(set(got)) == len(got)
        mine_a = [sequence(n) for n in got[::2]]
        mine_b = [sequence(n) for n in got[1::2]]
        assert mine_a[:3] == [FIRST_ORDER_NUMBER + 1, FIRST_ORDER_NUMBER + 2, FIRST_ORDER_NUMBER + 3]
        assert mine_b[0] == FIRST_ORDER_NUMBER + OrderNumbers.BLOCK + 1
        assert not set(mine_a) & set(mine_b)
    finally:
        a.close()
        b.close()


def test_a_store_numbered_one_order_at_a_time_goes_on_after_its_last_number(clock: SettableClock):
    # given a counter advanced once per order, as stores written before the blocks have it
    app = memory_app(clock)
    w = make_world(app, clock)
    counter = Counter(name=ORDER_NUMBER_COUNTER, value=FIRST_ORDER_NUMBER, actor=ACTOR, at=app.now())
    for _ in range(3):
        counter.advance(actor=ACTOR, at=app.now())
    app.save(counter)
    # then the next order's number follows the last one given
    assert sequence(app.create_order(w.customer.id, actor=ACTOR).number) == FIRST_ORDER_NUMBER + 4
