"""The suite's default worker count, outside ``addopts`` so ``-p no:xdist`` parses.

``-n 4`` in pyproject's ``addopts`` would be parsed before any conftest loads,
so ``python -m pytest -p no:xdist`` failed with "unrecognized arguments: -n".
Instead this root-level conftest (loaded with the initial conftests, before
``pytest_cmdline_main``) sets four xdist workers when xdist is loaded and the
command line chose none: ``-n N`` (``-n 0``: one process) and ``-p no:xdist``
still win.  Four workers on the 2-CPU machines: half the suite's wall time is
waiting on children and deadlines, so more workers than CPUs pays.
"""

import pytest

_DEFAULT_WORKERS = 4


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    # tryfirst, and registered after the xdist plugin, so this runs before
    # xdist's own pytest_cmdline_main turns numprocesses into workers.
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.numprocesses is None:
        config.option.numprocesses = _DEFAULT_WORKERS
