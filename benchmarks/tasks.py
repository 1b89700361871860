from taskbridge import task


@task(queue="default")
def noop(x: int, y: int) -> int:
    return x + y
