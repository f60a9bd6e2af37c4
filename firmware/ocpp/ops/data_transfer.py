# DataTransfer (P01/P02): no vendor extensions are implemented.
from ocpp import check


def handle(cl, p, mid):
    check.field(p, "vendorId", str, mid=mid)
    return {"status": "UnknownVendorId"}
