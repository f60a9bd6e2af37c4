# GetLocalListVersion (D02): the version of the local authorization list (0: no list, or disabled).
from ocpp import local_list


def handle(cl, p, mid):
    ll = local_list.of(cl)
    return {"versionNumber": ll.version if ll.enabled() else 0}
