"""The Chalice blueprints app.py registers: each handler parses its event and calls one
function a layer down."""
