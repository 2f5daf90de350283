"""Board-deck views of finished runs: the run report, scenario comparison and run listing.

Every figure these views show is read from a run folder (its CSV tables, its
manifest and its netCDF draws) or from the priors files its manifest names, so
a report regenerates identically from the same run.
"""
