from taskbridge import task


@task(queue="default")
def noop(x: int, y: int) -> int:
    return x + y


@task(queue="default")
def noop_rq(x: int, y: int) -> int:
    """The same task under another name, so that a task flag can keep it on RQ while its
    queue's flag sends ``noop`` to Celery: no flag is flipped between timed batches."""
    return x + y
