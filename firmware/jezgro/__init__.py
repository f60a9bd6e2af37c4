# JEZGRO: a small kernel hosting isolated, supervised services (spec §1.2, §2).
