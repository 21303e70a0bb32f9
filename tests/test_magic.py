"""The ``%%nk`` magic through a real IPython shell (nkwidgets/magic.py), no browser.

Bad specs must fail with ONE clear message that names line and column, and
must not start any computation.
"""

from __future__ import annotations

import numpy as np
import pytest
from IPython.testing.globalipapp import get_ipython

GOOD = """\
net = serial(Dense(256, W_std=1.5, b_std=0.05), Relu(), Dense(10, W_std=1.5, b_std=0.05))
data = digits(train=200, test=100)
compute = nngp, ntk
predict = gradient_descent_mse(t=[1, 100, inf])
"""


@pytest.fixture(scope="module")
def ip():
    shell = get_ipython()
    shell.run_line_magic("load_ext", "nkwidgets")
    return shell


def _run_cell_capturing_error(ip, body, line=""):
    ip.user_ns.pop("nk_job", None)
    with pytest.raises(Exception) as info:
        ip.run_cell_magic("nk", line, body)
    return info.value


@pytest.mark.parametrize(
    "body,line,col,words",
    [
        (
            "net = serial(Dense(10), Relux())\n",
            1,
            25,
            ["unknown layer `Relux`", "Relu"],
        ),
        ("net = Dense(10, W_sdt=1.0)\n", 1, 23, ["no argument `W_sdt`", "W_std"]),
        ("net = Dense(10)\ndata = digits(train=10, test=5\n", 2, 14, ["syntax error"]),
        ("net = Dense(10, W_std=-1)\n", 1, 7, ["W_std=-1", "positive"]),
        ("net = Dense(10)\nfoo = 3\n", 2, 1, ["unknown setting `foo`"]),
        ("net = Dense(10)\ndata = digits(train=1700, test=500)\n", 2, 1, ["1797"]),
    ],
    ids=[
        "bad-layer",
        "bad-argument",
        "syntax",
        "bad-value",
        "bad-setting",
        "too-much-data",
    ],
)
def test_bad_spec_one_clear_error_nothing_runs(ip, body, line, col, words):
    from nkwidgets.spec import SpecError

    error = _run_cell_capturing_error(ip, body)
    assert isinstance(error, SpecError)
    assert (error.line, error.col) == (line, col), str(error)
    message = str(error)
    assert f"line {line}, column {col}" in message
    for word in words:
        assert word in message
    # IPython renders SpecError as one line instead of a traceback.
    assert len(error._render_traceback_()) == 1
    assert "nk_job" not in ip.user_ns, "a failed spec must not start a job"


def test_good_spec_returns_at_once_and_binds_result(ip):
    ip.user_ns.pop("nk_result", None)
    ip.run_cell_magic("nk", "-o my_result", GOOD)
    job = ip.user_ns["nk_job"]
    # The cell returned while the job still compiles and computes on its thread:
    # that is what frees the notebook for the next cell.
    assert not job.done()
    assert "my_result" not in ip.user_ns
    result = job.result(timeout=300)
    assert ip.user_ns["my_result"] is result
    k = result.kernels["ntk"]["train_train"]
    assert k.shape == (200, 200) and np.all(np.isfinite(k))
    np.testing.assert_allclose(k, k.T, rtol=1e-6)
    assert result.predictions["ntk"]["accuracy"].shape == (3,)


def test_a_network_that_fails_to_compile_reports_in_the_view(ip):
    """Conv on flat data passes the spec check but not tracing: the cell still
    returns (the block size, chosen by compiling, is decided on the job's
    thread), and the failure shows in the view, not as a traceback."""
    from nkwidgets.compute import BlockError

    body = "net = serial(Conv(8, (3, 3)), Relu(), Flatten(), Dense(10))\ndata = digits(train=20, test=10)\n"
    ip.run_cell_magic("nk", "", body)
    job = ip.user_ns["nk_job"]
    with pytest.raises(BlockError, match="2-D convolution needs 4 axes"):
        job.result(timeout=120)
    view = ip.magics_manager.registry["NKMagics"].jobs.find(None).view
    assert "2-D convolution needs 4 axes" in view.message.value
    assert view.progress.bar_style == "danger"


def test_bad_option_is_rejected(ip):
    from nkwidgets.spec import SpecError

    error = _run_cell_capturing_error(ip, GOOD, line="--frobnicate")
    assert isinstance(error, SpecError)
    assert "-o NAME" in str(error)


def test_bad_spec_displays_a_diagnostic_at_its_line(ip):
    """The editor marker's data: spec line/column (line 1 = first line after %%nk)."""
    from IPython.utils.capture import capture_output

    from nkwidgets.magic import DIAGNOSTIC_MIME
    from nkwidgets.spec import SpecError

    body = "net = Dense(10)\ndata = digits(train=10, test=5)\ncompute = nngp,, ntk\n"
    with capture_output() as captured:
        with pytest.raises(SpecError) as info:
            ip.run_cell_magic("nk", "", body)
    bundles = [o.data for o in captured.outputs if DIAGNOSTIC_MIME in o.data]
    assert len(bundles) == 1
    diagnostic = bundles[0][DIAGNOSTIC_MIME]
    assert (diagnostic["line"], diagnostic["col"]) == (info.value.line, info.value.col)
    assert diagnostic["line"] == 3 and diagnostic["source"] == "compute = nngp,, ntk"
    assert diagnostic["message"] == info.value.message
    # Plain-text fallback: the line, and a caret under the column.
    source_line, caret_line = bundles[0]["text/plain"].splitlines()
    assert source_line.endswith("compute = nngp,, ntk")
    assert caret_line.index("^") == source_line.index("compute") + diagnostic["col"] - 1


def test_line_magics_list_show_and_cancel_jobs(ip, capsys):
    from IPython.utils.capture import capture_output

    from nkwidgets.compute import JobCancelled
    from nkwidgets.magic import MagicError

    many_blocks = (
        "net = serial(Dense(64), Relu(), Dense(10))\n"
        "data = digits(train=600, test=20)\ncompute = ntk\nblock_size = 20\n"
    )
    ip.run_cell_magic("nk", "-o cancelled_run", many_blocks)
    job = ip.user_ns["nk_job"]
    capsys.readouterr()
    ip.run_line_magic("nk", "cancel")
    assert "cancelling job" in capsys.readouterr().out
    with pytest.raises(JobCancelled):
        job.result(timeout=300)
    assert job.status == "cancelled"
    assert "cancelled_run" not in ip.user_ns

    ip.run_line_magic("nk", "jobs")
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["id", "result", "state", "progress", "elapsed"]
    row = next(r for r in table if "cancelled_run" in r).split()
    done, total = map(int, row[3].split("/"))
    # 30 x 31 / 2 train blocks + 30 test blocks; cancel stops after the first wave(s).
    assert row[2] == "cancelled" and total == 495 and done < total, row
    assert float(row[5]) >= 0

    ip.run_line_magic("nk", "cancel")  # nothing running any more
    assert "nothing to cancel" in capsys.readouterr().out

    registry = ip.magics_manager.registry["NKMagics"].jobs
    record = registry.find("cancelled_run")
    for key in ("cancelled_run", str(record.id), None):
        with capture_output() as captured:
            ip.run_line_magic("nk", f"show {key}" if key else "show")
        if key is None and registry.find(None) is not record:
            continue
        model_ids = [
            o.data.get("application/vnd.jupyter.widget-view+json", {}).get("model_id")
            for o in captured.outputs
        ]
        assert record.view.model_id in model_ids, key

    for bad in ("show nobody", "show 9999", "cancel abc", "frobnicate", "jobs 3"):
        with pytest.raises(MagicError):
            ip.run_line_magic("nk", bad)
