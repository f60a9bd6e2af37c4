# Authorize (C01/C07): a locally presented idToken (an RFID card at the
# station, or the EV's contract id from ISO 15118 Plug & Charge) is checked
# with the CSMS before a transaction starts; Accepted starts it.


def request(cl, evse, token):
    cl.call("Authorize", {"idToken": token}, _confirm_for(evse, token))


def _confirm_for(evse, token):
    def confirm(cl, req, res, err):
        status = res["idTokenInfo"]["status"] if res is not None else None
        cl.auth_last = status or err
        if status == "Accepted":
            cl.tx.start(evse, token, "Authorized")
    return confirm
