# The resumable session now lives in secc/session.py (SeccSession: run, resume, on_answer); this
# name stays until the ISO15118 service imports SeccSession directly.
from iso15118.secc.session import SeccSession


class ServiceSession(SeccSession):
    def __init__(self, limits, protocols, sequence_timeout_ms, on_state=None, on_answer=None):
        SeccSession.__init__(self, limits, protocols, sequence_timeout_ms, on_state, on_answer=on_answer)
