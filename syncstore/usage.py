"""Usage figures for the operator's dashboard: syncs per pool per day."""


def sync_counted(*, pool_id: str) -> None:
    """Called by every successful update (after commit is fine)."""
