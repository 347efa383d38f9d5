"""The dashboard server's shared state (:mod:`apps.state`): computed once, queued fairly.

Results every session sees alike are computed once however many sessions ask at the same time;
what-ifs queue first-come first-served and each waiting run knows its place; the snapshot the
sessions share equals the library's own and carries no session's change.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from apps import state
from apps.network_map import map_layers
from twin.scenario import snapshot


def test_shared_results_compute_once_for_concurrent_callers_and_retry_failures():
    shared = state.SharedResults(keep=2)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return object()

    got = [None] * 6
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, shared.get("k", slow)))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(g is got[0] for g in got)

    def broken():
        raise ValueError("no data")

    with pytest.raises(ValueError, match="no data"):
        shared.get("bad", broken)
    assert shared.get("bad", lambda: 7) == 7  # a failure is not kept
    shared.get("third", lambda: 3)  # keep=2: the oldest ("k") goes
    assert shared.get("k", lambda: "again") == "again"


def test_peek_never_waits_and_gives_only_finished_results():
    shared = state.SharedResults(keep=2)
    gate = threading.Event()
    worker = threading.Thread(target=shared.get, args=("slow", lambda: gate.wait(5) and 42))
    worker.start()
    time.sleep(0.1)
    t = time.perf_counter()
    assert shared.peek("slow") is None and shared.peek("never asked") is None
    assert time.perf_counter() - t < 0.05  # the event loop is not held up
    gate.set()
    worker.join()
    assert shared.peek("slow") == 42
    with pytest.raises(ValueError):
        shared.get("bad", lambda: int("x"))
    assert shared.peek("bad") is None  # a failure is no result


def test_fair_pool_serves_in_order_and_tells_each_its_place():
    pool = state.FairPool(1, "test-fair")
    gate, order = threading.Event(), []
    first = pool.submit(lambda: (gate.wait(5), order.append("a")))
    time.sleep(0.1)
    waiting = [pool.submit(order.append, name) for name in "bcd"]
    assert [pool.position(f) for f in (first, *waiting)] == [0, 1, 2, 3]
    waiting[1].cancel()  # a session cancels while it waits: those behind move up
    assert pool.position(waiting[2]) == 2
    gate.set()
    waiting[2].result(5)
    assert order == ["a", "b", "d"] and pool.position(waiting[2]) == 0


def test_shared_snapshot_equals_the_library_and_its_map(city):
    at = "2016-01-14 03:00"
    snap, layers = state.solve(city, at).result()
    again, _ = state.solve(city, at).result()
    assert again is snap  # once per server and time
    ref = snapshot(city, at)
    assert snap.summary == pytest.approx(ref.summary)
    vm = ref.electric["vm_pu"].to_series().reindex(city.net.bus.index).to_numpy()
    np.testing.assert_allclose(layers["buses"]["vm_pu"], vm)
    assert map_layers(city, ref)["junctions"]["name"] == layers["junctions"]["name"]


def test_model_batch_freezes_the_document_only_on_its_own_thread(caplog):
    """Panel's threads (``--num-threads``) run a session's events: a batch asked for there must
    leave the document's model index to the event loop (freezing or re-indexing it from another
    thread races the loop's changes of the same document)."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from apps.jobs import model_batch, on_session_thread

    doc = Document()
    pn.state._thread_id_[doc] = threading.get_ident()  # as Panel claims a session's document
    with set_curdoc(doc):
        assert on_session_thread()
        with model_batch():
            assert doc.models._freeze_count == 1
    assert doc.models._freeze_count == 0

    seen = {}

    def in_pool_thread():
        with set_curdoc(doc):
            seen["on_thread"] = on_session_thread()
            with model_batch():
                seen["frozen"] = doc.models._freeze_count

    worker = threading.Thread(target=in_pool_thread)
    worker.start()
    worker.join()
    assert seen == {"on_thread": False, "frozen": 0}
    assert "off the session's thread" in caplog.text
