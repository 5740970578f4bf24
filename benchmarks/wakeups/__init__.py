"""Wake-up designs for a thread blocked in ``recv``, prototyped: ``python -m benchmarks.wakeups``.

Not a benchmark of thredo (the runner ``python -m benchmarks`` skips it: it
is not ``bench_*``), and nothing in thredo uses it: throwaway prototypes of
the designs docs/design.md (section 11) argued about from system-call
counts, measured so that issue 24 chooses by measurement (results:
docs/design.md, section 12).

Each design is an echo server with a ``threading.Thread`` per connection
whose handler loop is Python (``recv(64)`` / ``sendall`` until EOF) and whose
``recv`` is a small C extension (``_wakeups.c``, built on first use with the
system compiler and Python's headers into ``_build/``; no compiler: the run
says so and stops).  Every ``recv`` releases the GIL around its wait, as
CPython's socket module does:

``plain``
    the baseline: stdlib sockets, blocking ``recv`` (``bench_net``'s plain
    server); cancelled by shutting the sockets down and joining.
``plain_c``
    the same in the C extension (blocking ``recv`` in C): what the C call
    itself costs against the socket module; cancelled as ``plain``.
``eventfd``
    today's thredo: ``poll`` on the socket and the thread's eventfd, then a
    non-blocking ``recv``; cancel = flag + write the eventfd.
``ppoll``
    ``ppoll`` on the socket with a reserved real-time signal unblocked only
    inside it (the mask swapped atomically by the kernel); cancel = flag +
    ``pthread_kill``.
``eintr``
    blocking ``recv`` itself, cancelled by ``pthread_kill``; the race between
    testing the flag and entering ``recv`` closed as musl's ``pthread_cancel``
    closes it (the signal handler moves the PC to a cancel exit only when it
    interrupted the flag test or the system call before it returned; see the
    header of ``_wakeups.c``).  x86-64 Linux only.

Parts (``python -m benchmarks.wakeups [check] [ready] [echo] [cancel] [syscalls]
[--quick] [--rounds N] [--seconds S] [--designs a,b]``; all by default):

``check``
    correctness of the designs that cancel: 4 MiB through a socket pair in
    random-sized chunks, the receiver sent spurious wake-ups (the signal
    with the flag clear) all along and cancelled once it has a random
    number of bytes; what it did not get must still be in the socket, byte
    for byte; then 200 cancels of an idle receiver, none may be missed.
``ready``
    the cost of a ``recv`` that need not wait: ``sendall`` + ``recv`` of 64 B
    in one thread over a socket pair (no thread sleeps, so the minimum of
    the repeats holds on a loaded machine).
``echo``
    ``bench_net``'s echo: the C load generator, 50 connections, 64 B
    ping-pong, each server in a child process, unpinned then pinned (server
    on CPU 0, generator on CPU 1), rounds alternating the designs' order;
    medians of round trips/s and their ratio to ``plain`` (also paired: the
    median of each round's ratio to ``plain`` in that round), with the server's
    CPU and context switches per round trip (``getrusage``, approximate:
    they span the generator's start-up).
``cancel``
    ``cancel_1000``'s shape: 1,000 idle connections (each has had one byte
    echoed), then the time until every handler thread has exited: the
    listener shut down and its acceptor joined, each connection cancelled
    (``plain``, ``plain_c``: shut down), every handler joined; a child
    process per design and round.
``syscalls``
    one short echo run per design under ``strace -c -f``: system calls per
    round trip by name (strace slows the server, so ``futex``, the GIL
    hand-offs that had to sleep, is inflated; the other counts are exact).
"""
