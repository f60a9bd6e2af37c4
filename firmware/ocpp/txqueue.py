# Persistent, ordered queue of CALLs that must not be lost (TransactionEvent
# and the MeterValues of a transaction). Write-ahead: an event is appended to
# the log before any attempt to send it, and sending always takes the head,
# so the CSMS sees events in the order they happened, across outages and
# reboots.
#
# Files under the board filesystem:
#   ocpp_txq.log   one record per line: "<crc32 8 hex> <json [action, payload]>\n"
#   ocpp_txq.head  number of records at the front of the log already delivered
#                  (atomically replaced via ocpp.persist)
# A power loss in the middle of an append leaves a torn last line whose CRC
# does not match: it is dropped on load (that event was never acknowledged as
# queued). Once every record is delivered the log is truncated.
import binascii
import json
import os
from ocpp.persist import save_json, load_json

LOG = "ocpp_txq.log"
HEAD = "ocpp_txq.head"


def _line(action, payload):
    body = json.dumps([action, payload])
    return "%08x %s\n" % (binascii.crc32(body.encode()) & 0xFFFFFFFF, body)


class TxQueue:
    def __init__(self, fs_root):
        self.log = fs_root + "/" + LOG
        self.headf = fs_root + "/" + HEAD
        self.items = []  # [action, payload] not yet delivered, oldest first
        self.torn = 0
        self._load()

    def _load(self):
        recs = []
        good_bytes = 0
        try:
            with open(self.log) as f:
                data = f.read()
        except OSError:
            data = ""
        pos = 0
        while pos < len(data):
            end = data.find("\n", pos)
            if end < 0:
                self.torn += 1
                break
            ln = data[pos:end]
            ok = False
            if len(ln) > 9 and ln[8] == " ":
                body = ln[9:]
                try:
                    if int(ln[:8], 16) == binascii.crc32(body.encode()) & 0xFFFFFFFF:
                        recs.append(json.loads(body))
                        ok = True
                except ValueError:
                    pass
            if not ok:
                self.torn += 1
                break
            pos = end + 1
            good_bytes = pos
        head = load_json(self.headf, 0)
        if not isinstance(head, int) or head < 0:
            head = 0
        self.items = recs[head:]
        if self.torn:
            # Rewrite without the torn tail so later appends start on a clean line.
            self._rewrite()
        elif good_bytes and not self.items:
            self._rewrite()

    def _rewrite(self):
        with open(self.log + ".tmp", "w") as f:
            for a, p in self.items:
                f.write(_line(a, p))
        os.rename(self.log + ".tmp", self.log)
        save_json(self.headf, 0)

    def push(self, action, payload):
        with open(self.log, "a") as f:
            f.write(_line(action, payload))
        self.items.append([action, payload])

    def peek(self):
        return self.items[0] if self.items else None

    def pop(self):
        # The head was delivered (CALLRESULT received, or given up after MessageAttempts).
        self.items.pop(0)
        if not self.items:
            self._rewrite()
            return
        head = load_json(self.headf, 0)
        save_json(self.headf, (head if isinstance(head, int) else 0) + 1)

    def __len__(self):
        return len(self.items)
