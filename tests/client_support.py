"""Helpers shared by the client tests (tests/test_client*.py)."""

from __future__ import annotations

import trio


def all_tasks() -> set[trio.lowlevel.Task]:
    """Every task of the running Trio run (the root task and all its descendants)."""
    found: set[trio.lowlevel.Task] = set()
    root = trio.lowlevel.current_root_task()
    assert root is not None
    stack = [root]
    while stack:
        task = stack.pop()
        found.add(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return found


class NoLeakedTasks:
    """``with NoLeakedTasks(): ...`` fails if the block leaves a task running behind it.

    Tasks that end while the block runs are fine; so are the block's own nurseries,
    which must be closed by the time it exits anyway.
    """

    def __enter__(self) -> NoLeakedTasks:
        self.before = all_tasks()
        return self

    def __exit__(self, *exc_info: object) -> None:
        leaked = all_tasks() - self.before
        assert not leaked, f"tasks left running: {sorted(t.name for t in leaked)}"
