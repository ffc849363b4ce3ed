"""Named errors. A step raises one of these; its class name is the error name that
the state machines match in Retry and Catch (`ErrorEquals`), so keep names stable."""


class DaskyardError(Exception):
    """Base of every error Daskyard raises on purpose."""


class NotReady(DaskyardError):
    """Something the step waits on is not there yet (EFS mount targets, a deleting
    network interface). The state machine retries it with backoff."""


class Throttled(DaskyardError):
    """AWS throttled us beyond botocore's own retries; the state machine retries."""


class ImageMissing(DaskyardError):
    """The image tag a cluster needs is not in its ECR repository."""


class InvalidRequest(DaskyardError):
    """A request that must be refused before anything is created."""


class ClusterExists(DaskyardError):
    """A cluster of that name already has a record."""


class ClusterNotFound(DaskyardError):
    """No record for that cluster."""


class ClusterBusy(DaskyardError):
    """The cluster is in a state that does not allow the request (scaling a FAILED cluster)."""


class Unauthorized(DaskyardError):
    """A missing, bad or expired signature."""
