"""Collectors: each reads one kind of outside data and writes it through `store`.

They never raise out of their loop: a failure is recorded (collector_status or the source's
last_error) and retried at the next interval, because one broken input must not stop the rest.
"""
