"""CASA on Arcade Hub: the versions it builds (`recipes`), their site configuration, Jupyter
kernels, version matching, detecting the version a dataset needs, and the demo dataset.

Plain functions with no dependency on the launch path, for the planner, the form and the menu:
- `versions.choose(wanted, candidates)`: the entry to preselect for a dataset, with a note;
- `detect.detect_casa_version(path)`: the CASA version recorded in a dataset's data;
- `kernels.default_kernel(version, kernels)` and `kernels.singleuser_args(kernel)`.
"""
