"""Quiet runs: third-party warnings and library log lines go to the run's log file, not the console."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import logging, sys, warnings
from pathlib import Path
from chasing_random.ui import third_party_to_log
with third_party_to_log(Path(sys.argv[1]), verbose=sys.argv[2] == "1"):
    warnings.warn("old API", FutureWarning)
    logging.getLogger("transformers.modeling_utils").warning("weights noise")
"""


def test_third_party_output_goes_to_the_log_unless_verbose(tmp_path):
    quiet = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "run.log"), "0"], capture_output=True,
                           text=True, check=True)
    log = (tmp_path / "run.log").read_text()
    assert "FutureWarning: old API" in log and "weights noise" in log and quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "verbose.log"), "1"], capture_output=True,
                          text=True, check=True)
    assert "old API" in loud.stderr and not (tmp_path / "verbose.log").exists()
