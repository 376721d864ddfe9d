"""`make soak`: a long run of mixed traffic through the gateway with faults, write by write.

Users sign up, write, read, edit and delete reviews at a steady rate while a fault comes every few
minutes (model service SIGKILL and restart, PostgreSQL restart, gateway SIGKILL and restart). Every
write a client saw accepted goes into a ledger; at the end the database is read straight and held
against it. Resident memory of every process and each request's latency are sampled throughout.
"""
