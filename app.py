"""Daskyard's Chalice app: the blueprints (steps, events, schedules, HTTP) and the
middleware that every invocation goes through. Nothing else lives here."""

from __future__ import annotations

from chalice import Chalice, ConvertToMiddleware

from chalicelib.core.observability import instrument
from chalicelib.handlers import doctor, events, http, schedules, steps
from chalicelib.handlers.answers import answering_errors, one_shape

app = Chalice(app_name="daskyard")
app.register_blueprint(steps.bp)
app.register_blueprint(events.bp)
app.register_blueprint(schedules.bp)
app.register_blueprint(http.bp)
app.register_blueprint(doctor.bp)
app.register_middleware(ConvertToMiddleware(instrument), "all")


# Every route (all registered above) answers its errors in one shape (handlers/answers).
for _methods in app.routes.values():
    for _route in _methods.values():
        _route.view_function = answering_errors(_route.view_function)
app.register_middleware(one_shape, "http")
