"""gunicorn's own access log, when turned on, never writes a request's path: the
links in sent mail carry their tokens there."""
import runpy

from app.config import ROOT

PATH_ATOMS = ("%(r)s", "%(U)s", "%(q)s", "%({raw_uri}e)s", "%(f)s")


def test_gunicorn_access_log_format_leaves_out_the_path_and_query(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-for-this-test")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    fmt = settings["access_log_format"]
    assert "%(s)s" in fmt  # it still logs something useful: the status
    assert not [atom for atom in PATH_ATOMS if atom in fmt]
