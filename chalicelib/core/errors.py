"""Named errors. Each class name is the error name the state machines match in Retry
and Catch (`ErrorEquals`), so keep names stable; each carries the HTTP status a request
that raises it answers with (Chalice's `STATUS_CODE` convention).

Plain exceptions: the core and the steps do not depend on Chalice. The HTTP edge (app.py)
turns one raised from a view into its response."""

from typing import ClassVar


class DaskyardError(Exception):
    """Base of every error Daskyard raises on purpose."""

    STATUS_CODE: ClassVar[int] = 500


class NotReady(DaskyardError):
    """Something the step waits on is not there yet (EFS mount targets, a deleting
    network interface). The state machine retries it with backoff."""

    STATUS_CODE = 503


class Throttled(DaskyardError):
    """AWS throttled us beyond botocore's own retries; the state machine retries."""

    STATUS_CODE = 503


class ImageMissing(DaskyardError):
    """The image tag a cluster needs is not in its ECR repository."""


class NotebookFailed(DaskyardError):
    """The notebook task a cluster promised keeps stopping before Jupyter answers."""


class InvalidRequest(DaskyardError):
    """A request that must be refused before anything is created."""

    STATUS_CODE = 400


class PayloadTooLarge(InvalidRequest):
    """A body over the size limit, refused before it is parsed."""

    STATUS_CODE = 413


class UnsupportedMediaType(InvalidRequest):
    """A body not declared as the JSON the route takes."""

    STATUS_CODE = 415


class Unauthorized(DaskyardError):
    """A missing, bad or expired signature."""

    STATUS_CODE = 401


class Forbidden(DaskyardError):
    """An authenticated caller not allowed to do this (a Slack team not on the list)."""

    STATUS_CODE = 403


class QuotaExceeded(DaskyardError):
    """The owner's live clusters or workers would pass the stage's quota, or the create
    one of the account's AWS quotas (the message names it, its code and value)."""

    STATUS_CODE = 403


class ClusterNotFound(DaskyardError):
    """No record for that cluster, or none the caller may see (someone else's cluster
    answers as if it did not exist)."""

    STATUS_CODE = 404


class ClusterExists(DaskyardError):
    """A cluster of that name already has a record."""

    STATUS_CODE = 409


class ClusterBusy(DaskyardError):
    """The cluster is in a state that does not allow the request (scaling a FAILED cluster)."""

    STATUS_CODE = 409


class RequestInProgress(DaskyardError):
    """The same signed request is being handled right now (a retry that came early)."""

    STATUS_CODE = 409


class DriveForbidden(Forbidden):
    """A create naming a drive that is neither the caller's nor shared with them. Says
    no more than that: not whose it is, nor whom it is shared with."""


class DriveNotFound(DaskyardError):
    """No drive of that name the caller owns (a drive's shares are its owner's to see
    and change: anyone else's request answers as if it did not exist)."""

    STATUS_CODE = 404


class DoctorFailed(DaskyardError):
    """The Doctor Lambda ended with an error instead of its checks' results."""

    STATUS_CODE = 502
