"""The launch planner: one typed request, one `plan()`, one frozen `LaunchSpec`.

Every entry point (the launch form, the hub's REST API, the sessions API, the Batch page, the
app-launch API) turns what it received into a `LaunchRequest` and asks `plan()` whether and how
it may launch; `plan()` applies every rule (catalogue, group policy, limits, datasets and their
CASA version, images) once and answers a `LaunchSpec` or a `Refusal` with one user-facing
message. Backends only render specs.

Layer: above `config` and `images`; below the backends, the hub glue and the service.
"""
