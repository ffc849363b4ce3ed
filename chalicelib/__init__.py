"""What the Daskyard Lambdas run. No dask and no CLI code lives here."""
