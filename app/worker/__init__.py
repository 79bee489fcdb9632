"""The dispatcher process: claims (app.worker.claims), delivery (app.worker.delivery),
recovery from dead dispatchers (app.worker.reaper) and the loop (app.worker.loop)."""
from app.worker.delivery import BACKOFF_MINUTES, MAX_ATTEMPTS
from app.worker.loop import Dispatcher, Summary

__all__ = ["BACKOFF_MINUTES", "MAX_ATTEMPTS", "Dispatcher", "Summary"]
