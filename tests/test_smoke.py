import thredo


def test_run_returns_result(run):
    assert run(lambda: 42) == 42
