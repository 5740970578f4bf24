"""CPython's own test suites, run against thredo's modules: ``python -m conformance``.

Theory of operation
-------------------

For each suite (``_suites.SUITES``: select, poll, epoll, selectors,
subprocess, socket, socketserver, http.server, http.client, urllib's local
network tests, ssl's ``ThreadedTests``, threading's Thread/Timer/excepthook
classes) the runner takes the test module from the interpreter's ``test``
package and executes it afresh with thredo's module in place of the stdlib
one it imports (``thredo.net.select``, ``.selectors``, ``.socket``,
``.ssl``, ``.subprocess``, ``thredo`` for ``threading``,
``thredo.ThredoMixIn`` as ``socketserver.ThreadingMixIn`` and under
``http.server.HTTPServer``; the HTTP and TLS suites are imported under
``thredo.patch()``), in two modes::

    thread   the unittest run in the worker's main thread (no run)
    run      the unittest run inside thredo.run(), in its main thredo thread
    stdlib   (--stdlib / --calibrate) the same machinery, the stdlib's own
             modules in each place: every kept test passes there

    parent: list ids -> shard per (suite, mode) -> N worker processes
    worker: load (substitute, verify it took) -> unittest.TestSuite.run
            -> one JSON line per test on a pipe; faulthandler ends a test
               past --limit (30 s): that test is a timeout, a new worker
               runs the rest

``excluded.txt`` lists every test not run, with its reason; ``expected.txt``
the known failures of thredo's modes, by the item of issue 21 that owns
them.  Exit status 1 on a NEW failure (neither list) or a calibration
failure; an expected failure that passes is printed as "unexpectedly
passing" and does not fail the run (the list is pruned by hand).  A Python
without the ``test`` package is reported and skipped (exit 0).

Where CPython's tests and thredo's contract disagree, the contract wins
(excluded.txt, reason "contract"; docs/guide.md):

* a thredo socket's descriptor is always ``O_NONBLOCK`` (a call blocked in
  the kernel could not be cancelled): ``NonBlockingTCPTests.testSetBlocking*``,
  ``NonblockConstantTest.test_SOCK_NONBLOCK`` read the flag with ``fcntl``;
* thredo threads start only inside ``thredo.run()``, so the suites whose
  servers or threads are thredo's (socketserver, http.server, threading)
  run in ``run`` mode only;
* ``join()`` of a failed thredo thread raises ``ThreadError`` (SPEC), which
  ``ExceptHookTests`` and ``test_no_refcycle_through_target`` do not expect;
* inside a run ``main_thread()`` is the run's main thredo thread
  (``test_main_thread``);
* ``thredo.Lock`` is a class (``ThreadTests.test_disallow_instantiation``).

In ``run`` mode a test that installs a signal handler is excluded: only the
main OS thread may, and the tests run in the main thredo thread.
"""
