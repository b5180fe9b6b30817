# SPDX-License-Identifier: MIT
"""A detached job: stored by the server, followed from anywhere by its id."""

from . import progress as progress_mod
from .errors import JobNotFinished

__all__ = ["Job"]


def _strip(msg):
    return {k: v for k, v in msg.items() if k not in ("type", "id")}


class Job:
    """A job the server keeps (see Client.submit and Client.job).

    ``id`` is the server's job id (16 hex digits); ``provenance`` is filled
    in by wait() and result(): plugin, version, SHA-256 of plugin and input,
    times, CPU time and host, what a paper needs to cite the run.
    """

    def __init__(self, client, job_id, plugin=None):
        self.id = job_id
        self.plugin = plugin
        self.provenance = None
        self._client = client

    def __repr__(self):
        if self.plugin:
            return "Job(%r, plugin=%r)" % (self.id, self.plugin)
        return "Job(%r)" % self.id

    def status(self):
        """The job's state and times, a dict: ``state`` is one of queued,
        running, done, failed, cancelled, interrupted; ``progress`` is
        ``{fraction, message}`` while it runs (docs/protocol.md 9.1)."""
        st = _strip(self._client._request("status", {"job": self.id}))
        if self.plugin is None:
            self.plugin = st.get("plugin")
        return st

    def wait(self, timeout=None, progress=None):
        """Waits for the job to end and returns its output, or raises its
        error (PluginFailed, Cancelled, JobTimeout...). ``progress``: True
        for a progress bar, or a function(fraction, message). ``timeout``
        (seconds) bounds the wait only: the job runs on after it, and after
        Ctrl-C."""
        bar = progress_mod.make(progress, self.plugin or self.id)
        try:
            msg = self._client._attach(self.id, timeout, bar)
            if bar is not None:
                bar(1.0, None)  # plugins need not report the end
        finally:
            if bar is not None:
                bar.close()
        return self._output(msg)

    def result(self):
        """The output of a finished job, at once. Raises the job's error if
        it failed, JobNotFinished (with ``state``) if it has not ended,
        NotFound if the server has no such job (or it expired)."""
        msg = self._client._request("result", {"job": self.id})
        if msg["type"] == "status":
            state = msg.get("state")
            raise JobNotFinished(
                "job %s has not finished (%s)" % (self.id, state), job=self.id, state=state
            )
        return self._output(msg)

    def cancel(self):
        """Asks the server to stop the job; returns its status (state
        ``cancelled`` if it was queued, else its state with
        ``cancel_requested`` while it stops, or its final state)."""
        return _strip(self._client._request("cancel", {"job": self.id}))

    def _output(self, msg):
        self.provenance = msg.get("provenance")
        return msg.get("output")
