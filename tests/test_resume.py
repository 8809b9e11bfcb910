"""The one resume sidecar (generation and pairwise): same key resumes, another key starts over."""

from __future__ import annotations

from chasing_random.resume import ResumeLog


def test_same_key_resumes_other_key_starts_over_cut_line_is_redone(tmp_path):
    sidecar = tmp_path / "out.partial.jsonl"
    ResumeLog(sidecar, "k1", "index").append([{"index": 0, "x": "a"}, {"index": 1, "x": "b"}])
    with open(sidecar, "a", encoding="utf-8") as handle:
        handle.write('{"index": 2, "x": ')  # a line cut by an interruption
    assert sorted(ResumeLog(sidecar, "k1", "index").done) == [0, 1]
    other = ResumeLog(sidecar, "k2", "index")
    assert other.done == {} and not sidecar.exists()
    other.append([{"index": 5}])
    other.close()
    assert not sidecar.exists()
