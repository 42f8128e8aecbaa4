"""Checks before Tocsin starts (serve, engine, checkpoint create): the evidence store and the
witnesses it is configured with can be reached, and an S3 witness has object lock. A wrong
setting is named now rather than by the first upload or checkpoint."""

from __future__ import annotations

from tocsin.evidence import storage, witness


def check_store() -> None:
    store = storage.configured()
    check = getattr(store, "check", None)
    if check is not None:  # an S3 store: the bucket exists and the credentials reach it
        check()


def check_witnesses() -> None:
    buckets = witness.buckets(witness.configured())
    if buckets:
        from tocsin.evidence import s3witness  # boto3 is loaded only when used

        s3witness.check(buckets)


def check() -> None:
    check_store()
    check_witnesses()
