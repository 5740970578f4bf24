"""Producer and consumer through a Queue(maxsize=1): each put waits for the consumer.

    python examples/tutorial/prod.py [COUNT]      (default 1000 items)

The producer ends the stream with None.  With room for one item, the
producer can only run one item ahead of the consumer.
"""

import sys

import thredo


def consumer(q):
    while (item := q.get()) is not None:
        sys.stdout.write(f"Child: {item}\n")
        thredo.sleep(0.001)


def producer(q, count):
    for n in range(count):
        q.put(n)
        sys.stdout.write(f"Produced: {n}\n")
    q.put(None)


def main(count):
    q = thredo.Queue(maxsize=1)
    t1 = thredo.spawn(consumer, q)
    t2 = thredo.spawn(producer, q, count)
    t1.join()
    t2.join()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
