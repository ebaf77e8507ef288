"""The `say` of a command whose app call tells what it does as it goes (the demos, the mutation
judge, labelling): lines written by a thread of their own (ui/line_out.py `LineWriter`), never by
a blocking `print` on the event loop. A reader that does not read (`launcher demo --workflow |
sleep 1000`, a pager not scrolled) used to freeze the loop at the first full pipe: phases, agents
and their watchdogs stood still until it read.

`said_to(stream)` gives the `say` for the length of the call. When it ends, what is queued is
written out (blocking there is fine: the command's result is printed next, in order after it);
when it is stopped (Ctrl-C, an error), the queued lines get a second and what is left is dropped.
A question asked at the terminal meanwhile first lets what was said out (`Say.asking`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

from launcher.ui.line_out import LineWriter, stream_fd

T = TypeVar("T")


class Say:
    """`say(text)`: `text` queued as a line of the stream; never blocks."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        fd = stream_fd(stream)
        self.writer = LineWriter(stream, fd) if fd is not None else None  # None: in memory, never blocks

    def __call__(self, text: str) -> None:
        if self.writer is not None:
            self.writer.write_line(text)
        else:
            print(text, file=self._stream, flush=True)

    def asking(self, ask: Callable[[str], T] | None) -> Callable[[str], T] | None:
        """`ask` (a question at the terminal), asked once what was said before it is out."""
        if ask is None or self.writer is None:
            return ask
        writer, question = self.writer, ask

        def asked(text: str) -> T:
            writer.drain()
            return question(text)

        return asked


@contextmanager
def said_to(stream: TextIO) -> Iterator[Say]:
    """The `Say` of `stream` for the length of an app call (see the module's doc)."""
    say = Say(stream)
    try:
        yield say
    except BaseException:
        if say.writer is not None:
            say.writer.abandon()
        raise
    if say.writer is not None:
        say.writer.close()
