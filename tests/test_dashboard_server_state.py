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
    assert time.perf_counter() - t < 0.5  # the event loop is not held up (the gate: 5 s)
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


def test_loop_turns_serve_by_priority_then_order_one_at_a_time_with_a_breath():
    """The event loop's queue of session changes (:class:`apps.jobs.LoopTurns`): one change
    at a time, the first views before what was asked for before the rest, in the order asked
    within a priority, and a breath of the loop between two turns."""
    import asyncio

    from apps.jobs import ASKED, BREATH_S, FIRST, REST, LoopTurns

    turns = LoopTurns()
    ran: list[tuple[str, float]] = []
    inside = []

    async def change(name: str, priority: int) -> None:
        async with turns.turn(priority):
            inside.append(name)
            assert len(inside) == 1  # nobody else in a turn meanwhile
            ran.append((name, time.perf_counter()))
            time.sleep(0.01)  # synchronous work, as a change of a document
            inside.remove(name)

    async def main() -> None:
        holder = asyncio.ensure_future(change("holder", REST))
        await asyncio.sleep(0)  # the holder has its turn: the others queue behind it
        waiting = [("rest-1", REST), ("asked-1", ASKED), ("first-1", FIRST), ("rest-2", REST),
                   ("first-2", FIRST), ("asked-2", ASKED)]
        await asyncio.gather(holder, *(change(n, p) for n, p in waiting))

    asyncio.run(main())
    assert [n for n, _ in ran] == ["holder", "first-1", "first-2", "asked-1", "asked-2",
                                   "rest-1", "rest-2"]
    starts = [t for _, t in ran]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.01 + BREATH_S * 0.9  # each turn's 10 ms of work, then the breath


def test_a_cancelled_waiter_passes_its_turn_on_and_first_views_hold_workers():
    """A waiting change whose session went away never blocks the queue; worker threads wait
    (:meth:`~apps.jobs.LoopTurns.yield_to_first_views`) only while first views queue."""
    import asyncio

    from apps.jobs import FIRST, REST, LoopTurns

    turns = LoopTurns()
    ran = []
    waited = {}

    async def change(name: str, priority: int, hold_s: float = 0.0) -> None:
        async with turns.turn(priority):
            ran.append(name)
            time.sleep(hold_s)

    def worker() -> None:
        t = time.perf_counter()
        turns.yield_to_first_views(timeout_s=5.0)
        waited["s"] = time.perf_counter() - t

    async def main() -> None:
        holder = asyncio.ensure_future(change("holder", REST, hold_s=0.05))
        await asyncio.sleep(0)
        gone = asyncio.ensure_future(change("gone", FIRST))
        first = asyncio.ensure_future(change("first", FIRST, hold_s=0.05))
        await asyncio.sleep(0)
        thread = threading.Thread(target=worker)
        thread.start()  # first views queue: the worker waits for them
        gone.cancel()
        await asyncio.gather(holder, first)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        await asyncio.sleep(0.05)
        later = asyncio.ensure_future(change("later", REST))
        await later

    asyncio.run(main())
    assert ran == ["holder", "first", "later"]
    assert 0.05 <= waited["s"] < 1.0  # until the first view had its turn, not the timeout
    t = time.perf_counter()
    turns.yield_to_first_views(timeout_s=5.0)  # none queued: no wait
    assert time.perf_counter() - t < 0.5


def test_a_queue_left_busy_by_a_closed_loop_does_not_hold_the_next():
    """A loop closed while a turn's release was still scheduled (a test's ``asyncio.run``)
    leaves no busy queue behind for the next loop."""
    import asyncio

    from apps.jobs import ASKED, LoopTurns

    turns = LoopTurns()

    async def change() -> str:
        async with turns.turn(ASKED):
            return "ran"

    assert asyncio.run(change()) == "ran"  # its release, 5 ms later, never runs
    assert asyncio.run(asyncio.wait_for(change(), timeout=2.0)) == "ran"


def _session_closed(untangle: bool) -> tuple[bool, int]:
    """A session's components served in a document, closed as the server closes a session
    (Bokeh destroys the document's models, then runs its session-destroyed hooks, Panel's
    among them), untangled or not, then let go. Returns whether reference counting alone
    freed the session's root component, and the objects the garbage collector then frees."""
    import gc
    import types
    import weakref

    import pandas as pd
    import panel as pn
    from bokeh.document import Document
    from bokeh.plotting import figure

    gc.collect()
    gc.disable()
    try:
        fig = figure(height=180, width=305, x_axis_type="datetime")
        fig.line(x=np.arange(96) * 900_000, y=np.sin(np.arange(96) / 15.0))
        root = pn.Column(
            pn.widgets.FloatSlider(name="EV share", start=0, end=100, value=20),
            pn.widgets.Select(name="period", options=["a day", "a week", "the year"]),
            pn.Row(pn.widgets.Button(name="Run"), pn.pane.Markdown("**base** and scenario")),
            pn.widgets.Tabulator(pd.DataFrame({"metric": list("abcdef"), "base": range(6)})),
            pn.pane.Bokeh(fig))
        del fig
        doc = root.server_doc(Document())
        doc.callbacks.destroy()
        doc.models.destroy()
        closing = types.SimpleNamespace(_document=doc, id="closed-session")
        for hook in list(doc.session_destroyed_callbacks):
            hook(closing)
        if untangle:
            state.untangle_session([root])
        alive = weakref.ref(root)
        del root, doc, closing, hook
        return alive() is None, gc.collect()
    finally:
        gc.enable()


def test_a_closed_session_is_freed_by_reference_counting_once_untangled():
    """A closed session's components and Bokeh models are cycles that only a full collection
    frees, holding the server's event loop while it goes through every object; untangled
    (:func:`apps.state.untangle_session` and :func:`apps.state.untangle_destroyed_models`),
    the session goes as it is let go. Reference: the same session closed without."""
    state.untangle_destroyed_models()
    tangled_freed, tangled = _session_closed(untangle=False)
    untangled_freed, untangled = _session_closed(untangle=True)
    assert not tangled_freed
    assert untangled_freed
    assert untangled < 0.5 * tangled, (untangled, tangled)


PAGE_MODELS = r'''
import json, re, sys
import numpy as np, pandas as pd, panel as pn
from bokeh.core.json_encoder import serialize_json
from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.document import Document
from apps.network_map import NetworkMap
if sys.argv[1] == "kept":
    from apps.bokeh_defaults import install
    install()
made = [0]
instance_default = PropertyDescriptor.instance_default
def counted(self, obj):
    made[0] += 1
    return instance_default(self, obj)
PropertyDescriptor.instance_default = counted
nmap = NetworkMap()
nmap.junctions.data = {"x": [0.0, 1.0], "y": [0.0, 2.0], "name": ["J1", "J2"], "dma": ["A", "B"],
                       "pressure_m": [31.0, np.nan], "head_m": [40.0, 41.0], "demand_l_s": [1.0, 2.0]}
page = pn.Column(pn.widgets.FloatSlider(name="EV share [%]", start=0, end=100, value=20),
                 pn.widgets.Select(options=["base", "heatwave"]),
                 pn.widgets.Tabulator(pd.DataFrame({"metric": ["losses"], "base": [1.5]})),
                 pn.indicators.Number(name="min voltage", value=0.97, format="{value:.3f}"),
                 pn.pane.Bokeh(nmap.figure))
template = pn.template.BootstrapTemplate(title="t", main=[page], sidebar=[pn.pane.HTML("x")])
doc = Document()
template.server_doc(doc)
made[0] = 0
doc.models.recompute()
first = made[0]
doc.models.recompute()
again = made[0] - first
text = serialize_json(doc.to_json())
text = re.sub(r'-\d{6,}"', '-ID"', text)  # names that hold id()
text = re.sub(r'"[0-9a-f]{32}"', '"UUID"', text)  # ids made at random
print(json.dumps({"ids": sorted(m.id for m in doc.models), "doc": text,
                  "made": [first, again]}))
'''


def _page_models(mode: str) -> dict:
    """A page's document (a template, widgets, a table, the network map) walked and
    serialized in a fresh process, with Bokeh as it is or with :mod:`apps.bokeh_defaults`."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", PAGE_MODELS, mode], capture_output=True,
                         text=True, check=True, cwd=root, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_kept_defaults_walk_and_serialize_a_page_as_bokeh_does():
    """With plain stable defaults kept once per class (:func:`apps.bokeh_defaults.install`)
    the document finds the same models and serializes to the same JSON as with Bokeh's own
    walk, and a second walk makes almost no default again (Bokeh's makes them all again)."""
    bokeh, kept = _page_models("bokeh"), _page_models("kept")
    assert len(bokeh["ids"]) > 100 and kept["ids"] == bokeh["ids"]
    assert kept["doc"] == bokeh["doc"]
    assert bokeh["made"][1] >= bokeh["made"][0] > 200  # each walk makes them again
    assert kept["made"][1] <= bokeh["made"][1] // 20  # themed values are made as before
