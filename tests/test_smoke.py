import thredo  # noqa: F401  (the package imports)


def test_run_returns_result(run):
    assert run(lambda: 42) == 42
