"""Reading the next batch on a background thread while the caller formats the current one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def read_ahead(batches: Iterator[T]) -> Iterator[T]:
    """`batches`, with the next one fetched on a background thread while the caller formats the
    current one, so the database works in parallel with Python. At most three batches exist
    at once (being read, queued, being formatted); closing this generator stops the thread
    after the batch it is reading."""
    queued: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                queued.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            offer(error)
            return
        offer(end)

    threading.Thread(target=produce, name="export-read-ahead", daemon=True).start()
    try:
        while True:
            item = queued.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
