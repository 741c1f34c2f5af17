"""The storage service: VOSpace 2.1 over users' homes and the group project spaces, for CADC's
`vos` client and other VO tools (docs/how-to/move-and-share-data-with-vos.md).

Its own process (`python -m arcade_hub.storage`, the hub's managed service `vospace`); the file
work is done by worker processes running as the users it acts for (`pool`, `worker`, `fsops`,
`fswrite`); who may do what is decided in `access` from the platform's model."""
