# A SeccSession (secc/session.py) whose progress lives in the object, not in the coroutine, so the
# ISO15118 service can keep it in ctx.store and a restarted incarnation can finish the session: the
# stream stays open when the coroutine dies of a fault (SeccSession.run closes it in `finally`), and
# resume() carries on in the state the session had, with the same session data (SessionID, EV values).
# The request/response loop is SeccSession._states' with two additions: the state and data are
# attributes, and on_answer(session, request, response name, response code) runs after every response.
import time
from exi import codec, schemas
from exi.codec import EXIError
from iso15118.transport.stream import StreamClosed, StreamTimeout
from iso15118.transport.v2gtp import V2GTPError
from iso15118.secc import din
from iso15118.secc.session import (SeccSession, MACHINES, PT_EXI, END_STOP, END_FAILED, END_TIMEOUT,
                                   END_CLOSED, END_MALFORMED)


class ServiceSession(SeccSession):
    def __init__(self, limits, protocols, sequence_timeout_ms, on_state=None, on_answer=None):
        SeccSession.__init__(self, limits, protocols, sequence_timeout_ms, on_state)
        self.on_answer = on_answer
        self.stream = None
        self.mod = None        # the protocol's state module once negotiated
        self.d = None          # its session data
        self.state = None      # the state waiting for the next request
        self.done = False
        self.t0 = 0

    async def run(self, ctx, stream):
        self.stream = stream
        self.t0 = ctx.kernel.ticks_ms()
        return await self._guarded(ctx, self._run(ctx, stream))

    async def resume(self, ctx):
        # A restarted service finishes the session it kept. Before the protocol was negotiated there
        # is nothing to resume: the connection closes and the EV starts again with SDP.
        if self.mod is None:
            r = self.result
            r.end, r.detail = END_FAILED, "service restarted during supportedAppProtocol"
            self._finish(ctx)
            return r
        return await self._guarded(ctx, self._loop(ctx))

    async def _guarded(self, ctx, coro):
        r = self.result
        try:
            await coro
        except StreamTimeout:
            r.end, r.detail = END_TIMEOUT, "no request within %d ms" % self.timeout_ms
        except StreamClosed as e:
            r.end, r.detail = END_CLOSED, str(e)
        except (V2GTPError, EXIError, KeyError, TypeError, IndexError) as e:
            # undecodable, or decodable with a missing element the state needs: nothing to answer
            r.end, r.detail = END_MALFORMED, "%s: %s" % (type(e).__name__, e)
        self._finish(ctx)
        return r

    def _finish(self, ctx):
        # Reached only when the session really ended (a fault in the service skips it).
        self.done = True
        self.state = None
        if self.stream is not None:
            self.stream.close()
        self.result.duration_ms = ctx.kernel.ticks_diff(ctx.kernel.ticks_ms(), self.t0)

    async def _states(self, ctx, stream, g, mod, data_cls):
        self.mod = mod
        self.d = data_cls(self.limits)
        self.state = mod.SessionSetup()
        await self._loop(ctx)

    async def _loop(self, ctx):
        r = self.result
        stream = self.stream
        mod = self.mod
        d = self.d
        if stream is None or mod is None or d is None:
            raise EXIError("no negotiated session to run")
        g = schemas.grammar(self.protocols[r.protocol][2])
        while self.state is not None:
            doc, t_rx = await self._recv(ctx, stream, g)
            msg = doc.get("V2G_Message")
            if msg is None or len(msg.get("Body", {})) != 1:
                raise EXIError("not one V2G_Message body: %s" % list(doc))
            name, body = next(iter(msg["Body"].items()))
            r.requests.append(name)
            if self.on_state is not None:
                self.on_state(name)
            if name not in mod.BUILD:
                raise EXIError("%s is no request of this protocol" % name)
            if name != "SessionSetupReq" and msg["Header"].get("SessionID") != d.session_id:
                res_name, build = mod.BUILD[name]
                res, nxt = build(d, din.UNKNOWN_SESSION), None
            elif self.state is not None:
                res_name, res, nxt = self.state.process(d, name, body)
            out = {"V2G_Message": {"Header": {"SessionID": d.session_id}, "Body": {res_name: res}}}
            await stream.send(ctx, PT_EXI, codec.encode(g, out))
            self.state = nxt
            if name in mod.LOOP_REQUESTS:
                r.loop_us.append(time.ticks_diff(time.ticks_us(), t_rx))
            code = res["ResponseCode"]
            r.responses.append([res_name, code])
            if nxt is None:
                ok = name == "SessionStopReq" and code == din.OK
                r.end = END_STOP if ok else END_FAILED
                r.detail = "" if ok else "%s answered %s" % (name, code)
            if self.on_answer is not None:
                self.on_answer(self, name, res_name, code)

